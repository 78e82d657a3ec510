"""The transformers engine: the KV-cached batched budget-forcing decoder (`engine`), its growing cache
(`kv_cache`), next-token choice (`sampling`) and the step-wise tree decoder of the strategies (`tree`)."""
