"""Code lists, ▲ conditions and fields shared by several record types (see ``spec.py``).

Codes marked in ``spec.py`` as from the seed's table (data input, wearing position, clock origin) are
transcribed exactly; the others are defined by this hub and documented in docs/exchange-spec.md.
"""

from __future__ import annotations

from datahealth.exchange.spec_model import Code, Condition, Field, Kind, Need, Source

REQ, COND, OPT = Need.REQUIRED, Need.CONDITIONAL, Need.OPTIONAL
TABLE, LISTED, DEFINED = Source.SEED_TABLE, Source.SEED_LIST, Source.DEFINED
ID_PATTERN = r"[A-Za-z0-9_-]+"
DEVICE_TEXT = r"[ -~]+"
"""Printable ASCII: device codes come from devices and apps (``HealthKit 1.2``)."""

# --- code lists ------------------------------------------------------------------------------------

DATA_INPUT_CODES = (
    Code("0", "システム入力（機器入力）データ", "Entered by the system (from the device)"),
    Code("1", "手入力（アプリケーション画面入力）データ", "Entered by hand (in the application)"),
    Code("2", "機器入力データをアプリケーション等により手動で修正", "Device data corrected by hand in the application"),
)
MEASUREMENT_POSITION_CODES = (
    Code("10", "ポケット内に収納（胸部）", "In a pocket (chest)"),
    Code("11", "ポケット内（腹部）", "In a pocket (abdomen)"),
    Code("20", "吊り下げて利用（首まわり）", "Hung (around the neck)"),
    Code("21", "吊り下げて利用（ベルトまわり）", "Hung (on the belt)"),
    Code("30", "身につけて利用（利き手手首）", "Worn (dominant wrist)"),
    Code("31", "身につけて利用（利き手以外の手首）", "Worn (non-dominant wrist)"),
    Code("40", "携行して利用（かばんの中に収納）", "Carried (in a bag)"),
    Code("50", "その他", "Other"),
)
ORIGIN_OF_TIME_CODES = (
    Code("0", "機器の時刻をそのまま使用", "The device's clock as is"),
    Code("1", "アプリケーションにより機器の時刻を補正", "The device's clock corrected by the application"),
)
SEX_CODES = (
    Code("0", "不明", "Unknown"),
    Code("1", "男性", "Male"),
    Code("2", "女性", "Female"),
    Code("9", "適用不能", "Not applicable"),
)
MEDICATION_CODES = (
    Code("0", "服薬なし", "No diabetes medication"),
    Code("1", "経口血糖降下薬", "Oral glucose-lowering drugs"),
    Code("2", "注射薬（インスリン、GLP-1受容体作動薬等）", "Injectables (insulin, GLP-1 receptor agonists …)"),
    Code("3", "経口薬と注射薬", "Oral and injectable"),
    Code("9", "不明", "Unknown"),
)
COMMUTE_CODES = (
    Code("1", "徒歩", "On foot"),
    Code("2", "自転車", "Bicycle"),
    Code("3", "公共交通機関", "Public transport"),
    Code("4", "自動車・二輪車", "Car or motorcycle"),
    Code("5", "通勤なし（在宅勤務等）", "No commute (works from home …)"),
    Code("9", "その他", "Other"),
)
DEVICE_CATEGORY_CODES = (
    Code("1", "活動量計", "Activity meter"),
    Code("2", "体重計・体組成計", "Scale / body composition meter"),
    Code("3", "血圧計", "Blood pressure monitor"),
    Code("4", "スマートフォンアプリ", "Smartphone application"),
    Code("5", "スマートウォッチ", "Smartwatch"),
    Code("9", "その他", "Other"),
)
HBA1C_METHOD_CATEGORY_CODES = (
    Code("1", "HPLC法", "HPLC"),
    Code("2", "免疫学的測定法", "Immunoassay"),
    Code("3", "酵素法", "Enzymatic method"),
    Code("9", "その他", "Other"),
)
BP_CONTEXT_CODES = (
    Code("1", "健診血圧", "Blood pressure at a health checkup"),
    Code("2", "診察室血圧", "Blood pressure in the consulting room"),
)
AGGREGATION_CODES = (
    Code("1", "日単位", "Per day"),
    Code("2", "時間単位", "Per hour"),
    Code("3", "分単位", "Per minute interval"),
)
TIME_CORRECTION_CODES = (
    Code("0", "時刻補正なし", "No clock correction"),
    Code("1", "アプリケーションによる時刻補正あり", "Clock corrected by the application"),
    Code("2", "機器による自動時刻補正（電波時計・通信同期等）", "Device corrects its own clock (radio, sync)"),
)

MEASURED = Condition(
    "機器リストの measured_items にこの項目がある（計測している）場合は必須",
    "Required when the device's registry entry lists this item in measured_items (the device measures it)",
    device_measures=True,
)
ACTIVITY_METER = Condition(
    "機器リストの機器分類が活動量計（1）またはスマートウォッチ（5）の場合は必須",
    "Required when the device's registry category is activity meter (1) or smartwatch (5)",
    device_category=("1", "5"),
)
CHECKUP = Condition(
    "血圧区分コードが健診血圧（1）の場合は必須",
    "Required when bp_context_code is 1 (checkup)",
    field="bp_context_code",
    values=("1",),
)

# --- fields shared by several record types ---------------------------------------------------------

CONSORTIUM_ID = Field(
    "consortium_id",
    "コンソーシアムID",
    "Consortium ID",
    Kind.STRING,
    10,
    REQ,
    LISTED,
    pattern=r"[A-Z0-9]+",
    note_ja="事務局が採番する。半角英大文字・数字 10 文字以内。",
    note_en="Assigned by the secretariat. Up to 10 upper-case letters and digits.",
)
PARTICIPANT_ID = Field(
    "participant_id",
    "参加者ID",
    "Participant ID",
    Kind.STRING,
    20,
    REQ,
    LISTED,
    pattern=ID_PATTERN,
    note_ja="コンソーシアム内で一意の仮名ID。氏名・保険者番号等の個人を直接識別できる値は使わない。",
    note_en="A pseudonym unique within the consortium; never a name, insurance number or other direct identifier.",
)
OBSERVATION_TIME = Field(
    "observation_time",
    "計測日時",
    "Observation time",
    Kind.DATETIME,
    14,
    REQ,
    TABLE,
    note_ja="yyyyMMddHHmmss 計測データの計測した日時 ※秒、分、時を計測していない場合は該当部分に00を入力",
    note_en="yyyyMMddHHmmss, when the data was measured; write 00 for an hour, minute or second not measured.",
)
MANUFACTURER = Field(
    "model_manufacturer_code",
    "機器メーカーコード",
    "Device maker code",
    Kind.STRING,
    50,
    REQ,
    TABLE,
    pattern=DEVICE_TEXT,
    note_ja="メーカーコード、機器から出力される通信仕様で決めた番号等 ※機器から取得できない場合は事務局が作成する"
    "機器リストの機器メーカーコードを入力",
    note_en="Maker code, e.g. the number set by the device's communication specification; if the device does not "
    "give one, the maker code of the secretariat's device list.",
)
MODEL_NUMBER = Field(
    "model_number",
    "機器型番",
    "Device model number",
    Kind.STRING,
    50,
    REQ,
    TABLE,
    pattern=DEVICE_TEXT,
    note_ja="機器から出力される型番コード ※機器から取得できない場合は事務局が作成する機器リストの機器型番コードを入力、"
    "スマートフォンアプリの場合には、アプリケーション名とバージョンを入力 例：HealthKit X.X",
    note_en="Model code output by the device; otherwise the model code of the secretariat's device list; for a "
    "smartphone app, the application name and version, e.g. HealthKit X.X.",
)
SERIAL = Field(
    "production_specification_serial",
    "機器識別ID",
    "Device identifier",
    Kind.STRING,
    50,
    REQ,
    TABLE,
    pattern=DEVICE_TEXT,
    note_ja="機器識別番号、製造番号などの機器を特定できる番号 ※機器から取得できない場合は台帳で管理している"
    "機器管理番号で代替。その場合には、先頭に「コンソーシアムID」を付けて、「コンソーシアムID」+「機器管理番号」"
    "とする、スマートフォンアプリの場合にはスマートフォンを特定できる識別番号 (例：Macアドレス)",
    note_en="Serial or other number identifying the device; otherwise the consortium's asset number prefixed with "
    "the consortium ID; for a smartphone app, an identifier of the phone (e.g. MAC address).",
)
DATA_INPUT = Field(
    "data_input_code",
    "データ入力コード",
    "Data input code",
    Kind.CODE,
    1,
    REQ,
    TABLE,
    codes=DATA_INPUT_CODES,
)
ORIGIN_OF_TIME = Field(
    "origin_of_time_code",
    "時刻補正コード",
    "Clock origin code",
    Kind.CODE,
    1,
    REQ,
    TABLE,
    codes=ORIGIN_OF_TIME_CODES,
)
UPDATE_TIME = Field(
    "update_time",
    "更新日時",
    "Update time",
    Kind.TIMESTAMP,
    17,
    REQ,
    TABLE,
    note_ja="yyyyMMddHHmmssSSS アプリケーション内 (データベース) でのデータ登録更新日時。データ更新時の過去データとの"
    "整合性チェックに利用する。初回であれば登録日時となり、次に同じ計測日時についてデータ修正のため再送する場合は、"
    "各コンソに保持しているデータの更新日時を設定する。保持していない場合には、送信日時と同様となる。",
    note_en="yyyyMMddHHmmssSSS, when the record was registered or updated in the sender's database; used to keep "
    "resent data consistent. First sending: the registration time; a correction resent for the same observation "
    "time carries the sender's update time; if the sender keeps none, the same as the send time.",
)
LAB_ID = Field(
    "lab_id",
    "検査機関ID",
    "Laboratory ID",
    Kind.STRING,
    20,
    REQ,
    LISTED,
    pattern=ID_PATTERN,
    note_ja="医療検査機関リストに登録した検査機関ID。",
    note_en="A laboratory ID registered in the laboratory list.",
)
DEVICE_FIELDS = (MANUFACTURER, MODEL_NUMBER, SERIAL)
DEVICE_IDENTITY = (
    "consortium_id",
    "participant_id",
    "observation_time",
    "model_manufacturer_code",
    "model_number",
    "production_specification_serial",
)


def decimal_field(
    name: str,
    ja: str,
    en: str,
    digits: int,
    need: Need,
    source: Source,
    unit: str,
    plausible: tuple[float | None, float | None] | None = None,
    condition: Condition | None = None,
    note_ja: str = "",
    note_en: str = "",
) -> Field:
    return Field(
        name,
        ja,
        en,
        Kind.DECIMAL,
        digits,
        need,
        source,
        unit=unit,
        plausible=plausible,
        condition=condition,
        note_ja=note_ja,
        note_en=note_en,
    )


def integer_field(
    name: str,
    ja: str,
    en: str,
    digits: int,
    need: Need,
    source: Source,
    unit: str,
    plausible: tuple[float | None, float | None] | None = None,
    condition: Condition | None = None,
    note_ja: str = "",
    note_en: str = "",
) -> Field:
    return Field(
        name,
        ja,
        en,
        Kind.INTEGER,
        digits,
        need,
        source,
        unit=unit,
        plausible=plausible,
        condition=condition,
        note_ja=note_ja,
        note_en=note_en,
    )
