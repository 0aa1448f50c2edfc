"""audit events sealed at commit on PostgreSQL: pending events, a deferred sealing trigger; head keeps prev hash

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-21 19:20:00

On PostgreSQL a transaction writes its audit events to ``audit_pending``; a deferred constraint trigger seals
each one at COMMIT (takes the chain's head, computes the SHA-256 link, moves the event into ``audit_events``),
so the head's row lock is held only while the transaction commits, never while its client works.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

SEAL_FUNCTION = """
CREATE FUNCTION audit_seal() RETURNS trigger AS $$
DECLARE
    new_seq BIGINT;
    new_prev VARCHAR(64);
    new_hash VARCHAR(64);
BEGIN
    UPDATE audit_head
    SET seq = seq + 1,
        prev_hash = hash,
        hash = encode(sha256(convert_to(hash || '|' || NEW.canonical_head || (seq + 1)::text || '}', 'UTF8')), 'hex')
    WHERE id = 1
    RETURNING seq, prev_hash, hash INTO new_seq, new_prev, new_hash;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'audit_head has no row: the audit chain cannot be extended';
    END IF;
    INSERT INTO audit_events
        (seq, at, actor, role, organisation_id, action, object_type, object_id, outcome, address, detail,
         prev_hash, hash)
    VALUES (new_seq, NEW.at, NEW.actor, NEW.role, NEW.organisation_id, NEW.action, NEW.object_type, NEW.object_id,
            NEW.outcome, NEW.address, NEW.detail, new_prev, new_hash);
    DELETE FROM audit_pending WHERE id = NEW.id;
    RETURN NULL;
END;
$$ LANGUAGE plpgsql
"""


def upgrade() -> None:
    with op.batch_alter_table("audit_head", schema=None) as batch_op:
        batch_op.add_column(sa.Column("prev_hash", sa.String(length=64), nullable=True))
    op.create_table(
        "audit_pending",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.Column("actor", sa.String(length=120), nullable=False),
        sa.Column("role", sa.String(length=20), nullable=False),
        sa.Column("organisation_id", sa.Integer(), nullable=True),
        sa.Column("action", sa.String(length=60), nullable=False),
        sa.Column("object_type", sa.String(length=40), nullable=False),
        sa.Column("object_id", sa.String(length=100), nullable=False),
        sa.Column("outcome", sa.String(length=10), nullable=False),
        sa.Column("address", sa.String(length=100), nullable=False),
        sa.Column("detail", sa.JSON(), nullable=False),
        sa.Column("canonical_head", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    if op.get_bind().dialect.name == "postgresql":
        op.execute(SEAL_FUNCTION)
        op.execute(
            "CREATE CONSTRAINT TRIGGER audit_pending_seal AFTER INSERT ON audit_pending "
            "DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION audit_seal()"
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS audit_pending_seal ON audit_pending")
        op.execute("DROP FUNCTION IF EXISTS audit_seal()")
    op.drop_table("audit_pending")
    with op.batch_alter_table("audit_head", schema=None) as batch_op:
        batch_op.drop_column("prev_hash")
