"""Errors: one small tree and one catalogue of user-facing messages.

::

    DatahealthError (status 500)
     ├── UserError (400)              a person can fix it; carries catalogued Problems
     │    ├── ValidationFailed (422)  answers/records that break rules (one Problem per question/row)
     │    ├── DefinitionError (422)   a survey definition or XLSForm that cannot be used
     │    ├── ImportFailed (422)      a CSV/file import with bad rows; nothing was written
     │    ├── Conflict (409)          state forbids the action (closed period, already submitted)
     │    ├── PayloadTooLarge (413)   an upload over the size limit
     │    └── UnsupportedMediaType (415)  an upload in a format that is not accepted
     ├── NotAuthenticated (401)
     ├── Forbidden (403)              CSRF failure and similar
     ├── TooManyRequests (429)        login throttling
     ├── ServiceUnavailable (503)     the database cannot be reached; retry later (Retry-After)
     └── NotFound (404)               also what another tenant's object looks like

Every user-facing message has a stable code (``DH-S101``) and a template in Japanese and English
naming the row, field or question. Tests assert codes, never prose.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar, Self


@dataclass(frozen=True)
class Message:
    ja: str
    en: str


# code -> message template; ``{question}``, ``{row}``, ``{field}``, ``{value}`` … are filled by ``Problem``.
CATALOGUE: dict[str, Message] = {
    # --- survey answers (S1xx) ---
    "DH-S101": Message(
        "{question}：回答が必要です。選択または入力してください。",
        "{question}: an answer is required. Please choose or enter one.",
    ),
    "DH-S102": Message(
        "{question}：{message_ja}",
        "{question}: {message_en}",
    ),
    "DH-S103": Message(
        "{question}：整数を半角数字で入力してください（例：13）。入力値「{value}」",
        '{question}: enter a whole number in half-width digits (e.g. 13). You entered "{value}".',
    ),
    "DH-S104": Message(
        "{question}：数値を半角で入力してください（例：1.5）。入力値「{value}」",
        '{question}: enter a number in half-width characters (e.g. 1.5). You entered "{value}".',
    ),
    "DH-S105": Message(
        "{question}：{minimum} 以上 {maximum} 以下の値を入力してください。入力値「{value}」",
        '{question}: enter a value from {minimum} to {maximum}. You entered "{value}".',
    ),
    "DH-S106": Message(
        "{question}：選択肢にない値「{value}」です。一覧から選択してください。",
        '{question}: "{value}" is not one of the choices. Please choose from the list.',
    ),
    "DH-S107": Message(
        "{question}：全角数字は使えません。半角数字で入力してください。入力値「{value}」",
        '{question}: full-width digits are not accepted. Use half-width digits. You entered "{value}".',
    ),
    "DH-S108": Message(
        "{question}：入力が長すぎます（{maximum} 文字以内）。",
        "{question}: the text is too long (at most {maximum} characters).",
    ),
    "DH-S109": Message(
        "「{question}」という設問はこの調査にありません。",
        'The survey has no question "{question}".',
    ),
    "DH-S110": Message(
        "{question}：{minimum} 以上の値を入力してください。入力値「{value}」",
        '{question}: enter a value of at least {minimum}. You entered "{value}".',
    ),
    "DH-S111": Message(
        "{question}：{maximum} 以下の値を入力してください。入力値「{value}」",
        '{question}: enter a value of at most {maximum}. You entered "{value}".',
    ),
    # --- response lifecycle (S2xx) ---
    "DH-S201": Message(
        "回答期間外のため提出できません（回答期間：{opens}～{closes}）。",
        "The survey is not open for submission (period: {opens} to {closes}).",
    ),
    "DH-S202": Message(
        "この回答は提出済みのため変更できません。変更が必要な場合は調査事務局にご連絡ください。",
        "This response has been submitted and can no longer be changed. Contact the survey office to reopen it.",
    ),
    "DH-S203": Message(
        "この調査は現在回答を受け付けていません（状態：{status}）。",
        "This survey is not accepting answers (status: {status}).",
    ),
    "DH-S204": Message(
        "未回答または誤りのある設問が {count} 件あります。確認画面の一覧から修正してください。",
        "{count} question(s) are unanswered or invalid. Fix them from the list on the review page.",
    ),
    "DH-S205": Message(
        "この回答は提出されていないため、再開できません。",
        "This response has not been submitted, so it cannot be reopened.",
    ),
    "DH-S206": Message(
        "貴院はこの調査の対象ではありません。",
        "Your hospital is not a target of this survey.",
    ),
    "DH-S207": Message(
        "回答期間の終了日（{closes}）が開始日（{opens}）より前です。",
        "The period ends ({closes}) before it starts ({opens}).",
    ),
    "DH-S208": Message(
        "同じ調査ID・版（{survey_id} {version}）が既に登録されています。",
        "A survey with the same id and version ({survey_id} {version}) already exists.",
    ),
    "DH-S209": Message(
        "回答済みの病院があるため、調査定義を差し替えられません。",
        "The definition cannot be replaced because hospitals have already answered.",
    ),
    "DH-S210": Message(
        "不正な絞り込み条件です（{field}：「{value}」）。",
        'Invalid filter ({field}: "{value}").',
    ),
    # --- survey definitions and XLSForm (D1xx) ---
    "DH-D101": Message(
        "調査定義を読み込めません：{detail}",
        "The survey definition cannot be read: {detail}",
    ),
    "DH-D102": Message(
        "{sheet}シート {row} 行目（{field}）：{detail}",
        "Sheet {sheet}, row {row} ({field}): {detail}",
    ),
    "DH-D103": Message(
        "設問 {question} の式「{expression}」が不正です：{detail}",
        'Question {question}: expression "{expression}" is invalid: {detail}',
    ),
    "DH-D104": Message(
        "設問 {question} の式が存在しない設問 {reference} を参照しています。",
        "Question {question}: the expression refers to an unknown question {reference}.",
    ),
    "DH-D105": Message(
        "{sheet}シート {row} 行目：未対応の設問タイプ「{value}」です。",
        'Sheet {sheet}, row {row}: unsupported question type "{value}".',
    ),
    "DH-D106": Message(
        "設問 {question} の式が後ろの設問 {reference} を参照しています（前の設問のみ参照できます）。",
        "Question {question}: the expression refers to a later question {reference} (only earlier ones may be used).",
    ),
    "DH-D107": Message(
        "設問 {question} の式が、設問 {reference} の選択肢にない「{value}」を使っています（条件が成り立ちません）。",
        'Question {question}: the expression uses "{value}", which is not a choice of question {reference} '
        "(the condition can never hold).",
    ),
    # --- imports (I1xx) ---
    "DH-I101": Message(
        "{row} 行目：必須項目「{field}」が空です。",
        'Row {row}: required field "{field}" is empty.',
    ),
    "DH-I102": Message(
        "{row} 行目：「{field}」の値「{value}」が不正です。{detail}",
        'Row {row}: "{field}" has an invalid value "{value}". {detail}',
    ),
    "DH-I103": Message(
        "{row} 行目：医療機関コード「{value}」が {other_row} 行目と重複しています。",
        'Row {row}: institution code "{value}" repeats row {other_row}.',
    ),
    "DH-I104": Message(
        "ファイルに必要な列がありません：{field}",
        "The file lacks required column(s): {field}",
    ),
    "DH-I105": Message(
        "ファイルを UTF-8 として読めません（Shift_JIS 等の場合は UTF-8 で保存し直してください）。",
        "The file is not valid UTF-8 (if it is Shift_JIS, save it again as UTF-8).",
    ),
    "DH-I106": Message(
        "ファイルが空です。",
        "The file is empty.",
    ),
    # --- accounts and access (A1xx) ---
    "DH-A101": Message(
        "ログインIDまたはパスワードが正しくありません。",
        "The login ID or password is incorrect.",
    ),
    "DH-A102": Message(
        "ログインが必要です。",
        "Please log in.",
    ),
    "DH-A103": Message(
        "この操作を行う権限がありません。",
        "You are not allowed to do this.",
    ),
    "DH-A104": Message(
        "画面の有効期限が切れました。もう一度操作してください。",
        "The page has expired. Please try again.",
    ),
    "DH-A105": Message(
        "パスワードは {minimum} 文字以上にしてください。",
        "The password must have at least {minimum} characters.",
    ),
    "DH-A106": Message(
        "ログインIDまたは初回登録コードが正しくないか、既に使用されています。",
        "The login ID or activation code is wrong or has already been used.",
    ),
    "DH-A107": Message(
        "確認用パスワードが一致しません。",
        "The two passwords do not match.",
    ),
    "DH-A108": Message(
        "このパスワードはよく使われており推測されやすいため使えません。別のパスワードにしてください。",
        "This password is commonly used and easy to guess. Choose another one.",
    ),
    "DH-A109": Message(
        "{minimum} 文字以上 {long} 文字未満のパスワードは、二要素認証を有効にしたうえで"
        "英字・数字・記号をすべて含む場合のみ使えます。",
        "A password of {minimum} to {long} characters is allowed only with two-factor login on and letters, "
        "digits and symbols all present.",
    ),
    "DH-A110": Message(
        "パスワードにログインIDを含めないでください。",
        "The password must not contain the login ID.",
    ),
    "DH-A111": Message(
        "ログインの失敗が続いたため、しばらくログインできません。{minutes} 分ほど待ってから再度お試しください。",
        "Too many failed logins. Please wait about {minutes} minutes and try again.",
    ),
    "DH-A112": Message(
        "確認コードが正しくないか、すでに使われています。認証アプリの最新のコードを入力してください。",
        "The verification code is wrong or was already used. Enter the latest code from your authenticator app.",
    ),
    "DH-A113": Message(
        "この役割のアカウントは二要素認証の設定が必要です。設定を完了してください。",
        "Accounts with this role must use two-factor login. Please finish setting it up.",
    ),
    "DH-A114": Message(
        "この操作の前に、パスワードをもう一度入力してください。",
        "Please enter your password again before this action.",
    ),
    "DH-A115": Message(
        "現在のパスワードが正しくありません。",
        "The current password is incorrect.",
    ),
    "DH-A116": Message(
        "この役割のアカウントでは二要素認証を無効にできません。",
        "Two-factor login cannot be turned off for accounts with this role.",
    ),
    # --- tenancy and input allow-lists (A12x) ---
    "DH-A121": Message(
        "{field} の値「{value}」は使えません。",
        'The value "{value}" is not allowed for {field}.',
    ),
    # --- exchange: reading and checking records (X1xx); {locator} is "line 12" or a JSON pointer ---
    "DH-X101": Message(
        "{source} {locator}：必須項目 {field} がありません。",
        "{source} {locator}: required field {field} is missing.",
    ),
    "DH-X102": Message(
        "{source} {locator}：{field} の桁数が規定（{rule}）と異なります。値「{value}」",
        '{source} {locator}: {field} has the wrong number of digits (rule: {rule}). Value "{value}".',
    ),
    "DH-X103": Message(
        "{source} {locator}：{field} は存在しない日付・時刻です（{rule}）。値「{value}」",
        '{source} {locator}: {field} is not a real date/time ({rule}). Value "{value}".',
    ),
    "DH-X104": Message(
        "{source} {locator}：{field} が未来の日時です。値「{value}」",
        '{source} {locator}: {field} lies in the future. Value "{value}".',
    ),
    "DH-X105": Message(
        "{source} {locator}：{field} は整数で入力してください（小数は不可）。値「{value}」",
        '{source} {locator}: {field} must be a whole number (no decimals). Value "{value}".',
    ),
    "DH-X106": Message(
        "{source} {locator}：{field} の値「{value}」はコード表にありません（{rule}）。",
        '{source} {locator}: {field} value "{value}" is not in its code list ({rule}).',
    ),
    "DH-X107": Message(
        "{source} {locator}：{field} に全角数字が含まれています。半角数字で送信してください。値「{value}」",
        '{source} {locator}: {field} contains full-width digits; send half-width digits. Value "{value}".',
    ),
    "DH-X108": Message(
        "{source} {locator}：{field} がありません。{rule}",
        "{source} {locator}: {field} is missing. {rule}",
    ),
    "DH-X109": Message(
        "{source} {locator}：コンソーシアムID「{value}」は登録されていないか、送信者のコンソーシアムではありません。",
        '{source} {locator}: consortium ID "{value}" is not registered or is not the sender\'s consortium.',
    ),
    "DH-X110": Message(
        "{source} {locator}：参加者ID「{value}」は参加者リストに登録されていません。",
        '{source} {locator}: participant ID "{value}" is not in the participant list.',
    ),
    "DH-X111": Message(
        "{source} {locator}：機器（{value}）は機器リストに登録されていません。",
        "{source} {locator}: the device ({value}) is not in the device list.",
    ),
    "DH-X112": Message(
        "{source} {locator}：{field}「{value}」は登録されていません（{rule}）。",
        '{source} {locator}: {field} "{value}" is not registered ({rule}).',
    ),
    "DH-X113": Message(
        "{source} {locator}：計測日時 {value} は参加期間（{rule}）の外です。",
        "{source} {locator}: observation time {value} is outside the participation period ({rule}).",
    ),
    "DH-X114": Message(
        "{source}：ファイルを UTF-8 として読めません（Shift_JIS 等と思われます）。UTF-8 で保存して送信してください。",
        "{source}: the file is not UTF-8 (it looks like Shift_JIS or similar). Save it as UTF-8 and send again.",
    ),
    "DH-X115": Message(
        "{source}：見出し行に必要な列がありません：{field}",
        "{source}: the header row lacks required column(s): {field}",
    ),
    "DH-X116": Message(
        "{source}：見出し行に規約にない列があります：{field}",
        "{source}: the header row has column(s) the specification does not define: {field}",
    ),
    "DH-X117": Message(
        "{source} {locator}：{field} は数値ではありません（{rule}）。値「{value}」",
        '{source} {locator}: {field} is not a number ({rule}). Value "{value}".',
    ),
    "DH-X118": Message(
        "{source} {locator}：{field} の形式が規定（{rule}）と異なります。値「{value}」",
        '{source} {locator}: {field} does not have the required form ({rule}). Value "{value}".',
    ),
    "DH-X119": Message(
        "{source}：レコード種別を判別できません（ファイル名は {field}.csv のように種別名にしてください）。",
        "{source}: cannot tell the record type (name the file after it, e.g. {field}.csv).",
    ),
    "DH-X120": Message(
        "{source} {locator}：同じ送信の中に同じ記録（{rule}）が重複しています（{value} と重複）。",
        "{source} {locator}: the same record ({rule}) appears twice in this batch (also at {value}).",
    ),
    "DH-X121": Message(
        "{source} {locator}：JSON の構造が規約と異なります：{rule}",
        "{source} {locator}: the JSON does not follow the specification: {rule}",
    ),
    "DH-X122": Message(
        "{source} {locator}：{field} が {rule} と矛盾しています。値「{value}」",
        '{source} {locator}: {field} contradicts {rule}. Value "{value}".',
    ),
    "DH-X123": Message(
        "{source}：ファイルが空か、見出し行しかありません。",
        "{source}: the file is empty or has only a header row.",
    ),
    "DH-X124": Message(
        "{source}：規約のバージョン「{value}」には対応していません（対応：{rule}）。",
        '{source}: specification version "{value}" is not supported (supported: {rule}).',
    ),
    "DH-X125": Message(
        "{source} {locator}：CSV の行として読めません（{rule}）。",
        "{source} {locator}: the row cannot be read as CSV ({rule}).",
    ),
    # --- exchange: storing, resends and batches (X2xx) ---
    "DH-X201": Message(
        "{source} {locator}：更新日時 {value} が保存済みの記録（{rule}）より古いため、保存済みの記録を残しました。",
        "{source} {locator}: update_time {value} is older than the stored record's ({rule}); "
        "the stored record was kept.",
    ),
    "DH-X202": Message(
        "{source} {locator}：更新日時 {value} が保存済みの記録と同じなのに内容が異なります。"
        "修正を送る場合は更新日時を新しくしてください。",
        "{source} {locator}: update_time {value} equals the stored record's but the content differs; "
        "a correction needs a newer update_time.",
    ),
    "DH-X203": Message(
        "厳格モードのため、誤りが {count} 件ある送信全体を受け付けませんでした（何も保存していません）。",
        "Strict mode: the whole batch was refused because of {count} error(s); nothing was stored.",
    ),
    "DH-X204": Message(
        "この送信はすでに受け付け済みです（バッチ {value}）。",
        "This batch was already received (batch {value}).",
    ),
    "DH-X205": Message(
        "{record_type} の登録は事務局のみが行えます。",
        "Only the secretariat may register {record_type}.",
    ),
    # --- exchange: API and tokens (X3xx) ---
    "DH-X301": Message(
        "API トークンが無効です（未指定、誤り、または失効）。",
        "The API token is missing, wrong or revoked.",
    ),
    "DH-X302": Message(
        "送信データが大きすぎます（上限 {maximum}）。分割して送信してください。",
        "The upload is too large (limit {maximum}). Split it and send again.",
    ),
    "DH-X303": Message(
        "対応していない形式です：{value}（CSV、JSON、FHIR NDJSON に対応）。",
        "Unsupported format: {value} (CSV, JSON and FHIR NDJSON are accepted).",
    ),
    "DH-X304": Message(
        "コンソーシアムID「{value}」は半角英大文字・数字 {maximum} 文字以内で入力してください。",
        'Consortium ID "{value}": use at most {maximum} upper-case letters and digits.',
    ),
    "DH-X305": Message(
        "コンソーシアムID「{value}」は既に登録されています。",
        'Consortium ID "{value}" is already registered.',
    ),
    "DH-X306": Message(
        "ログインID「{value}」は既に使われているか、使えない文字を含んでいます"
        "（半角英数字と - _ . のみ、64 文字以内）。",
        'Login ID "{value}" is taken or has characters that are not allowed (letters, digits, - _ . only; at most 64).',
    ),
    "DH-X307": Message(
        "{field} を入力してください（{maximum} 文字以内）。",
        "Enter {field} (at most {maximum} characters).",
    ),
    "DH-X308": Message(
        "API からの送信はコンソーシアムのトークンでのみ行えます（閲覧用トークンでは送信できません）。",
        "Only a consortium's token may send data; a read-only token cannot.",
    ),
    "DH-X309": Message(
        "送信データの処理が中断されました（保存されたかどうかは不明です）。{retry_after} 秒ほどおいて、同じデータを"
        "もう一度送信してください。再送しても同じ記録が二重に保存されることはありません。",
        "Processing of the batch was interrupted (it may or may not have been stored). Send the same data again in "
        "about {retry_after} seconds: nothing is stored twice.",
    ),
    # --- exchange: values stored but flagged (W2xx) ---
    "DH-W201": Message(
        "{source} {locator}：{field} の値「{value}」は生理的にあり得ない可能性があります（目安 {rule}）。"
        "保存しましたが要確認です。",
        '{source} {locator}: {field} value "{value}" is physiologically implausible (expected {rule}). '
        "Stored, please check.",
    ),
    "DH-W202": Message(
        "{source} {locator}：収縮期血圧が拡張期血圧以下です（{value}）。保存しましたが要確認です。",
        "{source} {locator}: systolic is not above diastolic ({value}). Stored, please check.",
    ),
    # --- exchange: FHIR (F1xx) ---
    "DH-F101": Message(
        "{source} {locator}：FHIR リソースとして読めません：{rule}",
        "{source} {locator}: not a readable FHIR resource: {rule}",
    ),
    "DH-F102": Message(
        "{source} {locator}：対応していない Observation です（コード {value}）。",
        "{source} {locator}: unsupported Observation (code {value}).",
    ),
    "DH-F103": Message(
        "エクスポートの対象が登録されていません（コンソーシアム {consortium}、参加者 {participant}）。",
        "Nothing to export: consortium {consortium}, participant {participant} is not registered.",
    ),
    # --- reports (Rxxx): scoring maps (R1xx), feedback and national reports (R2xx), rendering (R3xx) ---
    "DH-R101": Message(
        "採点設定（{source}）を読み込めません：{detail}",
        "The scoring map ({source}) cannot be read: {detail}",
    ),
    "DH-R102": Message(
        "採点設定の {question}（{field}）の式「{expression}」が不正です：{detail}",
        'Scoring map {question} ({field}): expression "{expression}" is invalid: {detail}',
    ),
    "DH-R103": Message(
        "採点設定の {question} が調査にない設問 {reference} を参照しています。",
        "Scoring map {question} refers to {reference}, which is not a question of the survey.",
    ),
    "DH-R104": Message(
        "採点設定の {question} が、設問 {reference} の選択肢にない「{value}」を使っています。",
        'Scoring map {question} uses "{value}", which is not a choice of question {reference}.',
    ),
    "DH-R105": Message(
        "採点設定に矛盾があります：{detail}",
        "The scoring map is inconsistent: {detail}",
    ),
    "DH-R106": Message(
        "設問 {reference} が採点項目にも参考情報（informational）にも対応づけられていません。",
        "Question {reference} is neither read by a scoring item nor listed as informational.",
    ),
    "DH-R201": Message(
        "この調査にはフィードバック（採点設定）がありません。",
        "This survey has no feedback (no scoring map).",
    ),
    "DH-R202": Message(
        "フィードバックは回答の提出後に表示されます。",
        "The feedback report is available once the response has been submitted.",
    ),
    "DH-R203": Message(
        "表示の種類「{value}」は使えません（internal または public）。",
        'Unknown report view "{value}" (use internal or public).',
    ),
    "DH-R204": Message(
        "医療機関コード {code} の病院はこの調査に回答を提出していません。",
        "No hospital with institution code {code} has submitted a response to this survey.",
    ),
    "DH-R205": Message(
        "フィードバックを作成できる調査がありません（{detail}）。",
        "There is no survey to report on ({detail}).",
    ),
    "DH-R301": Message(
        "PDF を作成できません：{detail}",
        "The PDF cannot be made: {detail}",
    ),
    "DH-R302": Message(
        "出力先 {path} には別の調査（{detail}）の帳票があります。別の出力先を指定してください。",
        "The output directory {path} holds reports of another survey ({detail}). Choose another directory.",
    ),
    # --- backups (B1xx) ---
    "DH-B101": Message(
        "バックアップ先 {path} に書き込めません：{detail}",
        "Cannot write to the backup location {path}: {detail}",
    ),
    "DH-B102": Message(
        "チェックサムが一致しません（{generation} の {file}）。バックアップが壊れているか改ざんされています。"
        "期待値 {expected}、実際 {actual}",
        "Checksum mismatch ({file} in {generation}): the backup is damaged or was altered. "
        "Expected {expected}, found {actual}.",
    ),
    "DH-B103": Message(
        "バックアップ {generation} のマニフェストがないか壊れています：{detail}",
        "The manifest of backup {generation} is missing or corrupt: {detail}",
    ),
    "DH-B104": Message(
        "{tool}（PostgreSQL {version} 以上）が見つかりません。postgresql-client を導入するか "
        "DATAHEALTH_PG_BINDIR を設定してください（探した場所：{detail}）。",
        "{tool} (PostgreSQL {version} or newer) was not found. Install the PostgreSQL client or set "
        "DATAHEALTH_PG_BINDIR (searched: {detail}).",
    ),
    "DH-B105": Message(
        "{tool} が失敗しました（終了コード {status}）：{detail}",
        "{tool} failed (exit status {status}): {detail}",
    ),
    "DH-B106": Message(
        "復元先のデータベースにはデータがあります（{rows} 行）。上書きする場合は --yes を付けて実行してください。",
        "The target database holds data ({rows} rows). Run again with --yes to overwrite it.",
    ),
    "DH-B107": Message(
        "バックアップ「{generation}」は {path} にありません（あるもの：{available}）。",
        'There is no backup "{generation}" in {path} (available: {available}).',
    ),
    "DH-B108": Message(
        "テーブル {table} の内容がマニフェストと一致しません（行数 期待 {expected} / 実際 {actual}、{detail}）。",
        "Table {table} does not match the manifest (rows expected {expected} / found {actual}; {detail}).",
    ),
    "DH-B109": Message(
        "データベース {path} は使用中です。サーバー（datahealth serve）を停止してから復元してください。{detail}",
        "The database {path} is in use. Stop the server (datahealth serve) before restoring. {detail}",
    ),
    "DH-B110": Message(
        "{kind} のバックアップは、設定されたデータベース（{configured}）には使えません。",
        "A {kind} backup cannot be used with the configured database ({configured}).",
    ),
    "DH-B111": Message(
        "{path} にバックアップがありません。",
        "There are no backups in {path}.",
    ),
    "DH-B112": Message(
        "復元したデータベースの整合性検査に失敗しました（{generation}）：{detail}",
        "The restored database failed its integrity check ({generation}): {detail}",
    ),
    "DH-B113": Message(
        "スキーマのリビジョンが一致しません（期待 {expected}、実際 {actual}）。",
        "The schema revision does not match (expected {expected}, found {actual}).",
    ),
    "DH-B114": Message(
        "このデータベースはバックアップできません：{detail}",
        "This database cannot be backed up: {detail}",
    ),
    "DH-B115": Message(
        "別のバックアップ処理が {path} で実行中です。終了してから再実行してください。",
        "Another backup is running in {path}. Try again when it has finished.",
    ),
    # --- study analytics (T1xx) ---
    "DH-T101": Message(
        "{source} {field}：研究定義が不正です（{detail}）。",
        "{source} {field}: the study definition is invalid ({detail}).",
    ),
    "DH-T102": Message(
        "研究 {value} は登録されていません。",
        "Study {value} is not registered.",
    ),
    "DH-T103": Message(
        "研究 {value} はすでに登録されています（--replace で置き換え）。",
        "Study {value} is already registered (use --replace to replace it).",
    ),
    "DH-T104": Message(
        "{source} {row} 行目：{field} が不正です（{detail}）。入力値「{value}」",
        '{source} line {row}: {field} is invalid ({detail}). Value: "{value}"',
    ),
    "DH-T105": Message(
        "研究 {value} の対象コンソーシアムに参加者がいないため、割付できません。",
        "Study {value}: its consortia have no participants to allocate.",
    ),
    "DH-T111": Message(
        "{source}：必須の列 {field} がありません。",
        "{source}: the required column {field} is missing.",
    ),
    "DH-T112": Message(
        "{source} {row} 行目：{field} は 0 以上の整数を半角で入力してください。入力値「{value}」",
        '{source} line {row}: {field} must be a whole number ≥ 0 in half-width digits. Value: "{value}"',
    ),
    "DH-T113": Message(
        "{source} {row} 行目：{field}（実測歩数）は 1 以上にしてください。入力値「{value}」",
        '{source} line {row}: {field} (counted reference steps) must be at least 1. Value: "{value}"',
    ),
    "DH-T114": Message(
        "{source} {row} 行目：同じ製品・参加者・試行の測定がすでにあります（{value}）。",
        "{source} line {row}: the same product, participant and trial appears twice ({value}).",
    ),
    "DH-T115": Message(
        "{source}：{field} が空です。",
        "{source}: {field} is empty.",
    ),
    "DH-T116": Message(
        "{source}：UTF-8 の CSV として読めません（{detail}）。",
        "{source}: cannot be read as a UTF-8 CSV ({detail}).",
    ),
    "DH-T121": Message(
        "研究 {value} の分析対象データ（割付または HbA1c）がありません。",
        "Study {value} has no data to analyse (allocation or HbA1c).",
    ),
    "DH-T122": Message(
        "分析スナップショット {path} が壊れています（{detail}）。--rebuild で作り直してください。",
        "The analytics snapshot {path} is damaged ({detail}); rebuild it with --rebuild.",
    ),
    # --- survey operations: notices, reminders, extensions, inquiries (O1xx) ---
    "DH-O101": Message(
        "{field}：入力が必要です（{maximum} 文字以内）。",
        "{field}: required, at most {maximum} characters.",
    ),
    "DH-O102": Message(
        "お問い合わせの種類「{value}」は選択できません。「操作・ログイン」または「調査内容」を選択してください。",
        'Inquiry category "{value}" is not available. Choose "operation / login" or "survey content".',
    ),
    "DH-O103": Message(
        "「{value}」という設問はこの調査にありません。",
        'The survey has no question "{value}".',
    ),
    "DH-O104": Message(
        "延長後の回答期限（{closes}）は現在の期限（{current}）より後の日付にしてください。",
        "The extended deadline ({closes}) must be after the current deadline ({current}).",
    ),
    "DH-O105": Message(
        "リマインドの設定が不正です（{field}：「{value}」）。"
        "日数は 0～{maximum} の半角数字をカンマ区切りで入力してください。",
        'Invalid reminder setting ({field}: "{value}"). Enter days from 0 to {maximum}, separated by commas.',
    ),
    "DH-O106": Message(
        "医療機関コード「{value}」はこの調査の対象病院にありません。",
        'No target hospital of this survey has the institution code "{value}".',
    ),
    "DH-O107": Message(
        "このお問い合わせにはまだ回答がないため、FAQ として公開できません。",
        "This inquiry has not been answered yet, so it cannot be published as a FAQ entry.",
    ),
    "DH-O108": Message(
        "このお問い合わせは既に FAQ として公開されています。",
        "This inquiry has already been published as a FAQ entry.",
    ),
    "DH-O109": Message(
        "受付中ではない調査にはリマインドを送れません（状態：{status}）。",
        "Reminders can only be sent for an open survey (status: {status}).",
    ),
    # --- generic (Gxxx) ---
    "DH-G400": Message(
        "リクエストの内容が不正です（{field}）。",
        "The request is malformed ({field}).",
    ),
    "DH-G404": Message(
        "お探しのページは見つかりません。",
        "The page you are looking for does not exist.",
    ),
    "DH-G409": Message(
        "デモデータは空のデータベースにのみ読み込めます（既にデータがあります）。",
        "Demo data can only be loaded into an empty database (this one already holds data).",
    ),
    "DH-G500": Message(
        "システムエラーが発生しました。時間をおいて再度お試しください。",
        "An internal error occurred. Please try again later.",
    ),
    "DH-G405": Message(
        "このURLでは {method} は使えません（使えるメソッド：{allowed}）。",
        "{method} is not allowed here (allowed: {allowed}).",
    ),
    # --- availability (G5xx, reliability) ---
    "DH-G503": Message(
        "データベースに一時的に接続できません。この操作は保存されていません。"
        "{retry_after} 秒ほどおいて再度お試しください。",
        "The database is temporarily unavailable. Nothing was saved. Please try again in about {retry_after} seconds.",
    ),
    # --- linked / claims analytics (L1xx) ---
    "DH-L101": Message(
        "連結元データがありません：{field}",
        "The data to link is missing: {field}",
    ),
    "DH-L102": Message(
        "連結用の秘密鍵（DATAHEALTH_LINKAGE_KEY または DATAHEALTH_SECRET_KEY）が設定されていません。",
        "No linkage key is configured (DATAHEALTH_LINKAGE_KEY or DATAHEALTH_SECRET_KEY).",
    ),
    "DH-L103": Message(
        "コホート定義 {row}：{field} が不正です（{detail}）。",
        "Cohort definition {row}: {field} is invalid ({detail}).",
    ),
    "DH-L104": Message(
        "分析用データ {field} がありません。先に datahealth analyze link を実行してください。",
        "The analysis table {field} is missing. Run datahealth analyze link first.",
    ),
    "DH-L105": Message(
        "分析エンジン「{value}」は使えません（{detail}）。",
        'The analysis engine "{value}" cannot be used ({detail}).',
    ),
    "DH-L106": Message(
        "保険者「{value}」はデータにありません。",
        'The insurer "{value}" is not in the data.',
    ),
}


class _Defaults(dict[str, Any]):
    """Leaves unknown placeholders visible rather than failing to render a message."""

    def __missing__(self, key: str) -> str:
        return "{" + key + "}"


@dataclass(frozen=True)
class Problem:
    """One catalogued problem: a code, where it is (question/row/field) and the values for its message."""

    code: str
    params: dict[str, Any] = field(default_factory=dict)
    question: str | None = None
    row: int | None = None
    field: str | None = None

    def message(self, lang: str = "ja") -> str:
        template = CATALOGUE[self.code]
        text = template.en if lang == "en" else template.ja
        values = _Defaults(self.params)
        if self.question is not None:
            values.setdefault("question", self.question)
        if self.row is not None:
            values.setdefault("row", self.row)
        if self.field is not None:
            values.setdefault("field", self.field)
        return text.format_map(values)

    def as_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"code": self.code, "message_ja": self.message("ja"), "message_en": self.message("en")}
        if self.question is not None:
            data["question"] = self.question
        if self.row is not None:
            data["row"] = self.row
        if self.field is not None:
            data["field"] = self.field
        return data


class DatahealthError(Exception):
    status: ClassVar[int] = 500
    default_code: ClassVar[str] = "DH-G500"

    def __init__(self, *problems: Problem) -> None:
        self.problems: list[Problem] = list(problems) or [Problem(self.default_code)]
        super().__init__("; ".join(problem.message("en") for problem in self.problems))

    def __reduce__(self) -> tuple[type[Self], tuple[Problem, ...]]:
        """Pickled with its problems (an ingest process sends its errors back to the web worker)."""
        return type(self), tuple(self.problems)

    @classmethod
    def of(cls, code: str, **params: Any) -> Self:
        if code not in CATALOGUE:
            raise KeyError(f"uncatalogued error code {code}")
        return cls(Problem(code, params))

    @property
    def code(self) -> str:
        return self.problems[0].code

    def messages(self, lang: str = "ja") -> list[str]:
        return [problem.message(lang) for problem in self.problems]


class UserError(DatahealthError):
    status = 400


class ValidationFailed(UserError):
    status = 422


class DefinitionError(UserError):
    status = 422
    default_code = "DH-D101"


class ImportFailed(UserError):
    status = 422


class Conflict(UserError):
    status = 409


class PayloadTooLarge(UserError):
    """The request body is over the configured limit (exchange uploads: DH-X302)."""

    status = 413


class UnsupportedMediaType(UserError):
    """The request's content type or a file's format is not accepted (exchange uploads: DH-X303)."""

    status = 415


class NotAuthenticated(DatahealthError):
    status = 401
    default_code = "DH-A102"


class Forbidden(DatahealthError):
    status = 403
    default_code = "DH-A103"


class TooManyRequests(DatahealthError):
    status = 429
    default_code = "DH-A111"


RETRY_AFTER_SECONDS = 5
"""``Retry-After`` of every 503 (and the ``retry_after`` of its message): the database or an ingest process."""


class ServiceUnavailable(DatahealthError):
    """The database cannot be reached (stopped, restarting, overloaded); nothing of the request was written."""

    status = 503
    default_code = "DH-G503"


class NotFound(DatahealthError):
    status = 404
    default_code = "DH-G404"
