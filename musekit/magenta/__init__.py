"""Magenta compatibility: reading Magenta's `.mag` generator bundles as data (their TF1
checkpoint and MetaGraphDef are parsed, never run)."""
