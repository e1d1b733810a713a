"""Log in with psycopg 3 through libpq 18's own OAuth flow (the device flow of libpq-oauth).

    PSYCOPG_IMPL=python LD_LIBRARY_PATH=<PostgreSQL 18 libdir> \\
        examples/.venv/bin/python tests/oidc/psycopg_login.py CONNINFO SQL...

psycopg hands the connection string to libpq; libpq prints the "Visit ... and enter the code"
prompt on stderr and waits for the person, as it does for psql. The first line printed says
which libpq psycopg loaded (its implementation, libpq's version and the library file), then
each statement's rows, fields separated by '|'. The pure-Python implementation finds libpq with
ctypes, so LD_LIBRARY_PATH selects PostgreSQL 18's (the binary wheel carries a libpq of its own,
without libpq-oauth).
"""
import sys

import psycopg


def loaded_libpq():
    with open("/proc/self/maps") as maps:
        for line in maps:
            if "/libpq.so" in line:
                return line.split()[-1]
    return "?"


def main():
    if len(sys.argv) < 2:
        print("usage: psycopg_login.py CONNINFO [SQL...]", file=sys.stderr)
        return 2
    print(f"psycopg {psycopg.__version__} ({psycopg.pq.__impl__}), libpq {psycopg.pq.version()} {loaded_libpq()}")
    try:
        with psycopg.connect(sys.argv[1], autocommit=True) as conn:
            for sql in sys.argv[2:]:
                rows = conn.execute(sql).fetchall()
                for row in rows:
                    print("|".join("" if v is None else str(v) for v in row))
    except psycopg.OperationalError as e:
        print(f"error: {' '.join(str(e).split())}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
