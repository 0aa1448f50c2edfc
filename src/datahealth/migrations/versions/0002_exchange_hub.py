"""exchange hub: registries, records, batches, history, api tokens

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-21 13:56:00.464653
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "exch_activity_recording",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("model_manufacturer_code", sa.String(length=50), nullable=False),
        sa.Column("model_number", sa.String(length=50), nullable=False),
        sa.Column("aggregation_code", sa.String(length=1), nullable=False),
        sa.Column("aggregation_minutes", sa.Integer(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("model_manufacturer_code", "model_number", name="uq_exch_activity_recording_identity"),
    )
    op.create_table(
        "exch_batches",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("consortium_id", sa.String(length=10), nullable=False),
        sa.Column("received_at", sa.DateTime(), nullable=False),
        sa.Column("channel", sa.String(length=10), nullable=False),
        sa.Column("wire_format", sa.String(length=10), nullable=False),
        sa.Column("sources", sa.JSON(), nullable=False),
        sa.Column("strict", sa.Boolean(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("counts", sa.JSON(), nullable=False),
        sa.Column("idempotency_key", sa.String(length=100), nullable=True),
        sa.Column("submitted_by", sa.String(length=100), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("consortium_id", "idempotency_key", name="uq_exch_batches_idempotency"),
    )
    with op.batch_alter_table("exch_batches", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_exch_batches_consortium_id"), ["consortium_id"], unique=False)

    op.create_table(
        "exch_device",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("model_manufacturer_code", sa.String(length=50), nullable=False),
        sa.Column("model_number", sa.String(length=50), nullable=False),
        sa.Column("device_name", sa.String(length=100), nullable=False),
        sa.Column("device_category_code", sa.String(length=1), nullable=False),
        sa.Column("time_correction_code", sa.String(length=1), nullable=False),
        sa.Column("standard_compliance", sa.String(length=100), nullable=True),
        sa.Column("accuracy", sa.String(length=100), nullable=True),
        sa.Column("measured_items", sa.String(length=500), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("model_manufacturer_code", "model_number", name="uq_exch_device_identity"),
    )
    op.create_table(
        "exch_hba1c_method",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("method_code", sa.String(length=10), nullable=False),
        sa.Column("method_category_code", sa.String(length=1), nullable=False),
        sa.Column("method_name", sa.String(length=100), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("method_code", name="uq_exch_hba1c_method_identity"),
    )
    op.create_table(
        "exch_lab",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("consortium_id", sa.String(length=10), nullable=False),
        sa.Column("lab_id", sa.String(length=20), nullable=False),
        sa.Column("lab_name", sa.String(length=100), nullable=False),
        sa.Column("lab_prefecture_code", sa.String(length=2), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("consortium_id", "lab_id", name="uq_exch_lab_identity"),
    )
    op.create_table(
        "exch_participant",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("consortium_id", sa.String(length=10), nullable=False),
        sa.Column("participant_id", sa.String(length=20), nullable=False),
        sa.Column("birth_year_month", sa.String(length=6), nullable=False),
        sa.Column("sex_code", sa.String(length=1), nullable=False),
        sa.Column("participation_start_date", sa.Date(), nullable=False),
        sa.Column("participation_end_date", sa.Date(), nullable=True),
        sa.Column("residence_prefecture_code", sa.String(length=2), nullable=False),
        sa.Column("commute_code", sa.String(length=1), nullable=True),
        sa.Column("medication_code", sa.String(length=1), nullable=False),
        sa.Column("wearing_position_code", sa.String(length=2), nullable=True),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("consortium_id", "participant_id", name="uq_exch_participant_identity"),
    )
    op.create_table(
        "exch_activity",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("consortium_id", sa.String(length=10), nullable=False),
        sa.Column("participant_id", sa.String(length=20), nullable=False),
        sa.Column("observation_time", sa.DateTime(), nullable=False),
        sa.Column("step", sa.Integer(), nullable=False),
        sa.Column("walk_time", sa.Integer(), nullable=True),
        sa.Column("moderate_intensity_activity", sa.Integer(), nullable=True),
        sa.Column("calories", sa.Numeric(precision=6, scale=1), nullable=True),
        sa.Column("total_calories", sa.Numeric(precision=6, scale=1), nullable=True),
        sa.Column("distance", sa.Numeric(precision=5, scale=1), nullable=True),
        sa.Column("exercise", sa.Numeric(precision=5, scale=1), nullable=True),
        sa.Column("physical_activity", sa.Numeric(precision=6, scale=1), nullable=True),
        sa.Column("model_manufacturer_code", sa.String(length=50), nullable=False),
        sa.Column("model_number", sa.String(length=50), nullable=False),
        sa.Column("production_specification_serial", sa.String(length=50), nullable=False),
        sa.Column("total_active_duration", sa.Integer(), nullable=False),
        sa.Column("data_input_code", sa.String(length=1), nullable=False),
        sa.Column("measurement_position_code", sa.String(length=2), nullable=True),
        sa.Column("origin_of_time_code", sa.String(length=1), nullable=False),
        sa.Column("update_time", sa.DateTime(), nullable=False),
        sa.Column("flags", sa.String(length=200), nullable=False),
        sa.Column("batch_id", sa.String(length=36), nullable=False),
        sa.Column("stored_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["batch_id"],
            ["exch_batches.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint(
            "consortium_id",
            "participant_id",
            "observation_time",
            "model_manufacturer_code",
            "model_number",
            "production_specification_serial",
            name="uq_exch_activity_identity",
        ),
    )
    with op.batch_alter_table("exch_activity", schema=None) as batch_op:
        batch_op.create_index(
            "ix_exch_activity_participant", ["consortium_id", "participant_id", "observation_time"], unique=False
        )

    op.create_table(
        "exch_batch_issues",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("batch_id", sa.String(length=36), nullable=False),
        sa.Column("severity", sa.String(length=10), nullable=False),
        sa.Column("code", sa.String(length=10), nullable=False),
        sa.Column("source", sa.String(length=200), nullable=False),
        sa.Column("locator", sa.String(length=200), nullable=False),
        sa.Column("record_type", sa.String(length=40), nullable=False),
        sa.Column("field", sa.String(length=60), nullable=False),
        sa.Column("value", sa.String(length=200), nullable=False),
        sa.Column("rule", sa.String(length=200), nullable=False),
        sa.Column("params", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(["batch_id"], ["exch_batches.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("exch_batch_issues", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_exch_batch_issues_batch_id"), ["batch_id"], unique=False)

    op.create_table(
        "exch_blood_pressure",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("consortium_id", sa.String(length=10), nullable=False),
        sa.Column("participant_id", sa.String(length=20), nullable=False),
        sa.Column("observation_time", sa.DateTime(), nullable=False),
        sa.Column("systolic_bp", sa.Integer(), nullable=False),
        sa.Column("diastolic_bp", sa.Integer(), nullable=False),
        sa.Column("pulse_rate", sa.Integer(), nullable=True),
        sa.Column("model_manufacturer_code", sa.String(length=50), nullable=False),
        sa.Column("model_number", sa.String(length=50), nullable=False),
        sa.Column("production_specification_serial", sa.String(length=50), nullable=False),
        sa.Column("data_input_code", sa.String(length=1), nullable=False),
        sa.Column("origin_of_time_code", sa.String(length=1), nullable=False),
        sa.Column("update_time", sa.DateTime(), nullable=False),
        sa.Column("flags", sa.String(length=200), nullable=False),
        sa.Column("batch_id", sa.String(length=36), nullable=False),
        sa.Column("stored_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["batch_id"],
            ["exch_batches.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint(
            "consortium_id",
            "participant_id",
            "observation_time",
            "model_manufacturer_code",
            "model_number",
            "production_specification_serial",
            name="uq_exch_blood_pressure_identity",
        ),
    )
    with op.batch_alter_table("exch_blood_pressure", schema=None) as batch_op:
        batch_op.create_index(
            "ix_exch_blood_pressure_participant", ["consortium_id", "participant_id", "observation_time"], unique=False
        )

    op.create_table(
        "exch_clinic_blood_pressure",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("consortium_id", sa.String(length=10), nullable=False),
        sa.Column("participant_id", sa.String(length=20), nullable=False),
        sa.Column("observation_time", sa.DateTime(), nullable=False),
        sa.Column("bp_context_code", sa.String(length=1), nullable=False),
        sa.Column("systolic_bp", sa.Integer(), nullable=False),
        sa.Column("diastolic_bp", sa.Integer(), nullable=False),
        sa.Column("lab_id", sa.String(length=20), nullable=True),
        sa.Column("data_input_code", sa.String(length=1), nullable=False),
        sa.Column("update_time", sa.DateTime(), nullable=False),
        sa.Column("flags", sa.String(length=200), nullable=False),
        sa.Column("batch_id", sa.String(length=36), nullable=False),
        sa.Column("stored_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["batch_id"],
            ["exch_batches.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint(
            "consortium_id",
            "participant_id",
            "observation_time",
            "bp_context_code",
            name="uq_exch_clinic_blood_pressure_identity",
        ),
    )
    with op.batch_alter_table("exch_clinic_blood_pressure", schema=None) as batch_op:
        batch_op.create_index(
            "ix_exch_clinic_blood_pressure_participant",
            ["consortium_id", "participant_id", "observation_time"],
            unique=False,
        )

    op.create_table(
        "exch_hba1c",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("consortium_id", sa.String(length=10), nullable=False),
        sa.Column("participant_id", sa.String(length=20), nullable=False),
        sa.Column("observation_time", sa.DateTime(), nullable=False),
        sa.Column("hba1c", sa.Numeric(precision=4, scale=1), nullable=False),
        sa.Column("lab_id", sa.String(length=20), nullable=False),
        sa.Column("hba1c_method_code", sa.String(length=10), nullable=False),
        sa.Column("data_input_code", sa.String(length=1), nullable=False),
        sa.Column("update_time", sa.DateTime(), nullable=False),
        sa.Column("flags", sa.String(length=200), nullable=False),
        sa.Column("batch_id", sa.String(length=36), nullable=False),
        sa.Column("stored_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["batch_id"],
            ["exch_batches.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint(
            "consortium_id", "participant_id", "observation_time", "lab_id", name="uq_exch_hba1c_identity"
        ),
    )
    with op.batch_alter_table("exch_hba1c", schema=None) as batch_op:
        batch_op.create_index(
            "ix_exch_hba1c_participant", ["consortium_id", "participant_id", "observation_time"], unique=False
        )

    op.create_table(
        "exch_record_history",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("record_type", sa.String(length=40), nullable=False),
        sa.Column("record_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("consortium_id", sa.String(length=10), nullable=False),
        sa.Column("participant_id", sa.String(length=20), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("batch_id", sa.String(length=36), nullable=False),
        sa.Column("replaced_by", sa.String(length=36), nullable=False),
        sa.Column("replaced_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["replaced_by"],
            ["exch_batches.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("exch_record_history", schema=None) as batch_op:
        batch_op.create_index("ix_exch_record_history_record", ["record_type", "record_id"], unique=False)

    op.create_table(
        "exch_weight",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("consortium_id", sa.String(length=10), nullable=False),
        sa.Column("participant_id", sa.String(length=20), nullable=False),
        sa.Column("observation_time", sa.DateTime(), nullable=False),
        sa.Column("body_weight", sa.Numeric(precision=5, scale=1), nullable=False),
        sa.Column("model_manufacturer_code", sa.String(length=50), nullable=False),
        sa.Column("model_number", sa.String(length=50), nullable=False),
        sa.Column("production_specification_serial", sa.String(length=50), nullable=False),
        sa.Column("data_input_code", sa.String(length=1), nullable=False),
        sa.Column("origin_of_time_code", sa.String(length=1), nullable=False),
        sa.Column("update_time", sa.DateTime(), nullable=False),
        sa.Column("flags", sa.String(length=200), nullable=False),
        sa.Column("batch_id", sa.String(length=36), nullable=False),
        sa.Column("stored_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["batch_id"],
            ["exch_batches.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint(
            "consortium_id",
            "participant_id",
            "observation_time",
            "model_manufacturer_code",
            "model_number",
            "production_specification_serial",
            name="uq_exch_weight_identity",
        ),
    )
    with op.batch_alter_table("exch_weight", schema=None) as batch_op:
        batch_op.create_index(
            "ix_exch_weight_participant", ["consortium_id", "participant_id", "observation_time"], unique=False
        )

    op.create_table(
        "exch_api_tokens",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("consortium_id", sa.String(length=10), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("prefix", sa.String(length=12), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("created_by", sa.Integer(), nullable=True),
        sa.Column("revoked_at", sa.DateTime(), nullable=True),
        sa.Column("last_used_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["created_by"],
            ["users.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("token_hash"),
    )
    with op.batch_alter_table("exch_api_tokens", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_exch_api_tokens_consortium_id"), ["consortium_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("exch_api_tokens", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_exch_api_tokens_consortium_id"))

    op.drop_table("exch_api_tokens")
    with op.batch_alter_table("exch_weight", schema=None) as batch_op:
        batch_op.drop_index("ix_exch_weight_participant")

    op.drop_table("exch_weight")
    with op.batch_alter_table("exch_record_history", schema=None) as batch_op:
        batch_op.drop_index("ix_exch_record_history_record")

    op.drop_table("exch_record_history")
    with op.batch_alter_table("exch_hba1c", schema=None) as batch_op:
        batch_op.drop_index("ix_exch_hba1c_participant")

    op.drop_table("exch_hba1c")
    with op.batch_alter_table("exch_clinic_blood_pressure", schema=None) as batch_op:
        batch_op.drop_index("ix_exch_clinic_blood_pressure_participant")

    op.drop_table("exch_clinic_blood_pressure")
    with op.batch_alter_table("exch_blood_pressure", schema=None) as batch_op:
        batch_op.drop_index("ix_exch_blood_pressure_participant")

    op.drop_table("exch_blood_pressure")
    with op.batch_alter_table("exch_batch_issues", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_exch_batch_issues_batch_id"))

    op.drop_table("exch_batch_issues")
    with op.batch_alter_table("exch_activity", schema=None) as batch_op:
        batch_op.drop_index("ix_exch_activity_participant")

    op.drop_table("exch_activity")
    op.drop_table("exch_participant")
    op.drop_table("exch_lab")
    op.drop_table("exch_hba1c_method")
    op.drop_table("exch_device")
    with op.batch_alter_table("exch_batches", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_exch_batches_consortium_id"))

    op.drop_table("exch_batches")
    op.drop_table("exch_activity_recording")
