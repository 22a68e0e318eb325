"""Apache Beam jobs: each module has a main() and a function that builds its pipeline."""
import logging


def _drop_gcp_client_notice(record):
    # Beam logs this on import when the optional Google Cloud clients are absent; musekit
    # does not need them on the DirectRunner, so users should not see it on every run.
    return not str(record.msg).startswith('apitools not found')


logging.getLogger().addFilter(_drop_gcp_client_notice)
