"""Mercado's lake as Apache Iceberg tables (issue 22): the commit step that publishes a date's
gold and cleaned partitions into tables of an Iceberg catalog, and the tables' upkeep.

The Rust tasks write each partition by the lake's manifest protocol (``_manifest.json``, verified
files); that protocol stays the tasks' internal record. This step is the publish other engines see:
for each dataset of the date it reads the files the manifest lists (checking each one's size and
SHA-256), and replaces the date's partition of the dataset's Iceberg table in one commit. pyiceberg
does the Iceberg work (iceberg-rust has no partition overwrite yet and needs another arrow version:
see the README's "Iceberg" section).
"""
