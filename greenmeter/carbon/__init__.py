"""Energy -> CO2e: grid intensity by region (shipped data), by hour (files, live providers)."""
