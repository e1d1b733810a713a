"""psycopg 3: the snippet of docs/applications.md ("Drivers"), run against a real database.

    PGHOST=... PGPORT=... PGDATABASE=todos PGUSER=todo_api \
    TOKEN_ALICE=... TOKEN_BOB=... TOKEN_EXPIRED=... TOKEN_TAMPERED=... python todos.py

The database is the todo app's (examples/todos/schema.sql) with Alice's two todos and Bob's one.
Prints one "ok - ..." or "not ok - ..." line per check; exits 1 if any failed.
"""

import os
import sys

import psycopg


# snippet: begin
def list_todos(conn, token):
    try:
        with conn.transaction():
            conn.execute("SELECT set_config('request.jwt', %s, true)", [token])
            todos = conn.execute("SELECT id, title FROM todos ORDER BY id").fetchall()
        # committed: the connection is anonymous again
        return 200, todos
    except psycopg.errors.InvalidAuthorizationSpecification as e:  # SQLSTATE 28000: answer 401
        return 401, e.diag.message_detail.removeprefix("pg_idp error code: ")  # e.g. "expired"
# snippet: end


failed = 0


def check(name, expected, actual):
    global failed
    if expected == actual:
        print(f"ok - psycopg: {name}")
    else:
        failed += 1
        print(f"not ok - psycopg: {name}\n    expected: {expected!r}\n    actual:   {actual!r}")


def main():
    via = os.environ.get("VIA", "direct")
    # prepare_threshold=None: no server-side prepared statements, which PgBouncer's transaction
    # pooling cannot follow from one server connection to another.
    with psycopg.connect(autocommit=True, prepare_threshold=None) as conn:
        status, todos = list_todos(conn, os.environ["TOKEN_ALICE"])
        check(f"{via}: Alice's token lists her todos only", (200, ["Alice: buy milk", "Alice: ship pg_idp"]),
              (status, [t for _, t in todos]))
        status, todos = list_todos(conn, os.environ["TOKEN_BOB"])
        check(f"{via}: Bob's token lists his todos only", (200, ["Bob: walk the dog"]), (status, [t for _, t in todos]))
        check(f"{via}: an expired token is a 401 with code expired", (401, "expired"),
              list_todos(conn, os.environ["TOKEN_EXPIRED"]))
        check(f"{via}: a tampered token is a 401 with code invalid_signature", (401, "invalid_signature"),
              list_todos(conn, os.environ["TOKEN_TAMPERED"]))
        list_todos(conn, os.environ["TOKEN_ALICE"])
        row = conn.execute("SELECT idp.requesting_user_id() IS NULL, count(*) FROM todos").fetchone()
        check(f"{via}: after COMMIT the connection is anonymous and sees no todos", (True, 0), tuple(row))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
