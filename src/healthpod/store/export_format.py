"""The name and version of the export zip's format (docs/export-format.md): written by
`healthpod.export`, read back by `ingest.pod_export`."""

FORMAT = "healthpod-export"
FORMAT_VERSION = 1  # raise it when a file or a column changes meaning; readers refuse newer
