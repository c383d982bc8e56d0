"""Workers: claim a task, keep its lease, run the engine, encode, store, settle."""
