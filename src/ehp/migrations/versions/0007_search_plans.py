"""Plans that stay cheap as the store grows: covering driver indexes, no index on local references,
and PostgreSQL statistics for common codes.

A search's most selective criterion produces the candidate rows (``rid IN (SELECT rid FROM
idx_token WHERE pid = ? AND code = ? AND system = ?)``). With ``rid`` last in the token and
reference value indexes those rows come from the index alone, in ``rid`` order for one code (or
one target), so the first page of a code that thousands of resources carry (hypertension, I10)
reads a page's worth of them, not all; the reference index also carries ``url``, which tells a
local reference (none) from an absolute one.

``ix_idx_reference_url`` now holds absolute references only. Local references, nearly all of
them, have no ``url``; with them in the index SQLite answered ``url IS NULL`` (a write rule's
"does this patient already have an active attachment?") from it, reading every local reference
of the parameter: 45% of the server's time when loading 100,000 people, growing with the store.

PostgreSQL estimated a code from averages over all codes (935 Conditions with I10 among 4.3
million resources, against 12,272) and so planned to read and sort every match. A larger sample
of ``code`` and the dependency of ``code`` on ``pid`` and ``system`` make the estimate right.

Revision ID: 0007_search_plans
Revises: 0006_access
Create Date: 2026-11-27
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007_search_plans"
down_revision = "0006_access"
branch_labels = None
depends_on = None

TOKEN_CODE_STATISTICS = 1000
"""Values PostgreSQL samples for ``idx_token.code``'s most common values (its default is 100)."""


def upgrade() -> None:
    op.drop_index("ix_idx_token_value", table_name="idx_token")
    op.create_index("ix_idx_token_value", "idx_token", ["pid", "code", "system", "rid"])
    op.drop_index("ix_idx_reference_target", table_name="idx_reference")
    op.create_index(
        "ix_idx_reference_target", "idx_reference", ["pid", "target_id", "target_type", "rid", "url"]
    )
    op.drop_index("ix_idx_reference_url", table_name="idx_reference")
    absolute = sa.text("url IS NOT NULL")
    op.create_index(
        "ix_idx_reference_url",
        "idx_reference",
        ["pid", "url"],
        sqlite_where=absolute,
        postgresql_where=absolute,
    )
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"ALTER TABLE idx_token ALTER COLUMN code SET STATISTICS {TOKEN_CODE_STATISTICS}")
        op.execute("CREATE STATISTICS st_idx_token_value (dependencies) ON pid, code, system FROM idx_token")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP STATISTICS st_idx_token_value")
        op.execute("ALTER TABLE idx_token ALTER COLUMN code SET STATISTICS -1")
    op.drop_index("ix_idx_reference_url", table_name="idx_reference")
    op.create_index("ix_idx_reference_url", "idx_reference", ["pid", "url"])
    op.drop_index("ix_idx_reference_target", table_name="idx_reference")
    op.create_index("ix_idx_reference_target", "idx_reference", ["pid", "target_id", "target_type"])
    op.drop_index("ix_idx_token_value", table_name="idx_token")
    op.create_index("ix_idx_token_value", "idx_token", ["pid", "code", "system"])
