"""Token searches that match many resources: a covering value index and PostgreSQL statistics.

A search's most selective criterion produces the candidate rows (``rid IN (SELECT rid FROM
idx_token WHERE pid = ? AND code = ? AND system = ?)``). With ``rid`` in the value index those rows
come from the index alone, in ``rid`` order for one system and code, so the first page of a code
that thousands of resources carry (hypertension, I10) reads a page's worth of them, not all.

PostgreSQL estimated such a code from averages over all codes (935 Conditions with I10 among
4.3 million resources, against 12,272) and so planned to read and sort every match. A larger
sample of ``code`` and the dependency of ``code`` on ``pid`` and ``system`` make the estimate
right. SQLite keeps the figures that ``migrate`` writes.

Revision ID: 0007_token_driver
Revises: 0006_access
Create Date: 2026-11-27
"""

from __future__ import annotations

from alembic import op

revision = "0007_token_driver"
down_revision = "0006_access"
branch_labels = None
depends_on = None

TOKEN_CODE_STATISTICS = 1000
"""Values PostgreSQL samples for ``idx_token.code``'s most common values (its default is 100)."""


def upgrade() -> None:
    op.drop_index("ix_idx_token_value", table_name="idx_token")
    op.create_index("ix_idx_token_value", "idx_token", ["pid", "code", "system", "rid"])
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"ALTER TABLE idx_token ALTER COLUMN code SET STATISTICS {TOKEN_CODE_STATISTICS}")
        op.execute("CREATE STATISTICS st_idx_token_value (dependencies) ON pid, code, system FROM idx_token")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP STATISTICS st_idx_token_value")
        op.execute("ALTER TABLE idx_token ALTER COLUMN code SET STATISTICS -1")
    op.drop_index("ix_idx_token_value", table_name="idx_token")
    op.create_index("ix_idx_token_value", "idx_token", ["pid", "code", "system"])
