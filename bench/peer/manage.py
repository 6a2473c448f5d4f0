"""Django's command line for the peer project (bench_claims.py runs `migrate`, `bench_setup` and `bench_statements`)."""
import os
import sys

if __name__ == "__main__":
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "peerflow.settings")
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)
