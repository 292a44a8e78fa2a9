"""One-round-trip appends on PostgreSQL; checkpoints and tiles are append-only too.

`audit_append` takes the chain lock, reads the head, hashes the canonical text (built
by record() around two slots: prev_hash and seq) and inserts, in one call. record()
re-computes the hash in Python and refuses a mismatch.

TRUNCATE is refused while a table holds rows (truncating an empty table loses nothing,
and test databases need it). Grants and table ownership: docs/audit.md.
"""

from django.db import migrations

TABLES = ("audit_auditevent", "audit_checkpoint", "audit_merkletile")

APPEND_FUNCTION = """
CREATE OR REPLACE FUNCTION audit_append(
    p_head text, p_mid text, p_tail text,
    p_occurred_at timestamptz, p_organization_id bigint, p_actor_user_id bigint,
    p_actor_token_id bigint, p_actor_session varchar, p_action varchar,
    p_resource_type varchar, p_resource_id varchar, p_outcome varchar, p_reason varchar,
    p_ip inet, p_user_agent varchar, p_device_id varchar, p_detail jsonb)
RETURNS TABLE (new_seq bigint, new_prev_hash varchar, new_hash varchar)
LANGUAGE plpgsql AS $$
DECLARE
    last_seq bigint;
    last_hash varchar;
    digest varchar;
BEGIN
    PERFORM pg_advisory_xact_lock(1346914628);  -- 0x50484944, "PHID"
    SELECT e.seq, e.hash INTO last_seq, last_hash
      FROM audit_auditevent e ORDER BY e.seq DESC LIMIT 1;
    IF last_seq IS NULL THEN
        last_seq := 0;
        last_hash := repeat('0', 64);
    END IF;
    digest := encode(sha256(convert_to(
        p_head || last_hash || p_mid || (last_seq + 1)::text || p_tail, 'UTF8')), 'hex');
    INSERT INTO audit_auditevent (
        seq, occurred_at, organization_id, actor_user_id, actor_token_id, actor_session,
        action, resource_type, resource_id, outcome, reason, ip, user_agent, device_id,
        detail, prev_hash, hash)
    VALUES (
        last_seq + 1, p_occurred_at, p_organization_id, p_actor_user_id, p_actor_token_id,
        p_actor_session, p_action, p_resource_type, p_resource_id, p_outcome, p_reason, p_ip,
        p_user_agent, p_device_id, p_detail, last_hash, digest);
    RETURN QUERY SELECT last_seq + 1, last_hash, digest;
END $$
"""

REFUSE_TRUNCATE_FUNCTION = """
CREATE OR REPLACE FUNCTION audit_refuse_truncate() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    has_rows boolean;
BEGIN
    EXECUTE format('SELECT EXISTS (SELECT 1 FROM %I.%I)', TG_TABLE_SCHEMA, TG_TABLE_NAME)
      INTO has_rows;
    IF has_rows THEN
        RAISE EXCEPTION 'audit tables are append-only' USING ERRCODE = 'insufficient_privilege';
    END IF;
    RETURN NULL;
END $$
"""

POSTGRES_UP = [
    APPEND_FUNCTION,
    REFUSE_TRUNCATE_FUNCTION,
    "DROP TRIGGER IF EXISTS audit_event_no_truncate ON audit_auditevent",
    *[
        stmt
        for table in TABLES
        for stmt in (
            f"""CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table}
                FOR EACH STATEMENT EXECUTE FUNCTION audit_refuse_truncate()""",
            f"REVOKE TRUNCATE ON {table} FROM PUBLIC",
        )
    ],
    *[
        f"""CREATE TRIGGER {table}_no_update_delete BEFORE UPDATE OR DELETE ON {table}
            FOR EACH ROW EXECUTE FUNCTION audit_event_refuse_change()"""
        for table in TABLES[1:]
    ],
]
POSTGRES_DOWN = [
    *[f"DROP TRIGGER IF EXISTS {table}_no_update_delete ON {table}" for table in TABLES[1:]],
    *[f"DROP TRIGGER IF EXISTS {table}_no_truncate ON {table}" for table in TABLES],
    """CREATE TRIGGER audit_event_no_truncate BEFORE TRUNCATE ON audit_auditevent
       FOR EACH STATEMENT EXECUTE FUNCTION audit_event_refuse_change()""",
    "DROP FUNCTION IF EXISTS audit_refuse_truncate()",
    "DROP FUNCTION IF EXISTS audit_append(text, text, text, timestamptz, bigint, bigint, bigint, "
    "varchar, varchar, varchar, varchar, varchar, varchar, inet, varchar, varchar, jsonb)",
]
SQLITE_UP = [
    stmt
    for table in TABLES[1:]
    for stmt in (
        f"""CREATE TRIGGER {table}_no_update BEFORE UPDATE ON {table}
            BEGIN SELECT RAISE(ABORT, 'audit tables are append-only'); END""",
        f"""CREATE TRIGGER {table}_no_delete BEFORE DELETE ON {table}
            BEGIN SELECT RAISE(ABORT, 'audit tables are append-only'); END""",
    )
]
SQLITE_DOWN = [
    stmt
    for table in TABLES[1:]
    for stmt in (
        f"DROP TRIGGER IF EXISTS {table}_no_update",
        f"DROP TRIGGER IF EXISTS {table}_no_delete",
    )
]


def _run(statements_by_vendor):
    def run(apps, schema_editor):
        for sql in statements_by_vendor.get(schema_editor.connection.vendor, []):
            schema_editor.execute(sql, None)  # no params: the SQL holds literal %

    return run


class Migration(migrations.Migration):
    dependencies = [("audit", "0003_signed_checkpoints_and_merkle_tiles")]

    operations = [
        migrations.RunPython(
            _run({"sqlite": SQLITE_UP, "postgresql": POSTGRES_UP}),
            _run({"sqlite": SQLITE_DOWN, "postgresql": POSTGRES_DOWN}),
        )
    ]
