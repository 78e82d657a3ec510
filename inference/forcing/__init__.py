"""The budget rules every engine shares, free of any engine: a request and its result (`budget`), the
step rule (`steps`), and the same rules applied to a batch of logits inside a sampler (`batch`, with
its per-request `request` settings, `state`, `table` of states and batched tensor `ops`)."""
