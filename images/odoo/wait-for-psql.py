#!/usr/bin/python3
"""Wait until PostgreSQL accepts a connection, as the official image's helper does.

    wait-for-psql.py --db_host H --db_port P --db_user U --db_password W --timeout=30
"""
import argparse
import sys
import time

import psycopg2

parser = argparse.ArgumentParser()
parser.add_argument("--db_host", required=True)
parser.add_argument("--db_port", required=True)
parser.add_argument("--db_user", required=True)
parser.add_argument("--db_password", required=True)
parser.add_argument("--timeout", type=int, default=5)
args = parser.parse_args()

deadline = time.monotonic() + args.timeout
error = ""
while time.monotonic() < deadline:
    try:
        psycopg2.connect(
            user=args.db_user, host=args.db_host, port=args.db_port, password=args.db_password, dbname="postgres"
        ).close()
        sys.exit(0)
    except psycopg2.OperationalError as exc:
        error = str(exc)
        time.sleep(0.25)
print(f"Database connection failure: {error}", file=sys.stderr)
sys.exit(1)
