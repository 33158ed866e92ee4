"""Programs that run inside the platform as jobs (backup, verify, drill, prune, ...).

Nothing here imports Pulumi: the platform passes configuration through each job's spec (flags and environment
variables), and every program is tested against real servers (PostgreSQL, Azurite, moto's S3).
"""
