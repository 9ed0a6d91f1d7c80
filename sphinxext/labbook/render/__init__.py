"""Pure renderers: lab topologies and schemas to DOT and mermaid text (no Sphinx here)."""
