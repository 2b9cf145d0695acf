"""The shared ground under both apps and the graphs: error envelope, logging, token checks,
LLM construction, HTTP disconnect detection. Imports neither `app` nor `tools_service`."""
