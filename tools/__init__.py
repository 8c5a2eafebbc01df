"""Admin tools: pool CLI, ad viewers, log extractors, frontend simulator."""
