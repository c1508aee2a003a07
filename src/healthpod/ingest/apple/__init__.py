"""The Health app's "Export All Health Data" (export.zip or export.xml) and its fast reader."""
