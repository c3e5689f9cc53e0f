"""End-to-end pipelines: a config dataclass and ``run(config, run_dir) -> run_dir`` each."""
