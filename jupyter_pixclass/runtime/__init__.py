"""What every layer runs on: the compiled kernels' thread pool and the memory budget."""
from .memory import container_available_bytes, default_cache_bytes, parse_bytes
from .threads import get_threads, run_rows, set_threads

__all__ = ["run_rows", "set_threads", "get_threads", "parse_bytes", "container_available_bytes",
           "default_cache_bytes"]
