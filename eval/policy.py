"""The policy model as strategies see it: prompts, expansions with compute accounting, answers.

    policy = Policy(tree, fmt, PolicySettings(temperature=0.7, step_delimiter="\\n"))
    roots = policy.roots(items, computes)                 # computes[i]: question i's Compute
    kids = policy.expand(parents, owners, computes, "step", seeds)
    policy.answer(node)                                   # the extracted final answer (or None)

`owners[j]` is the question index of `parents[j]`; every expansion adds its generated tokens and
one model call per child to that question's Compute.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from thinkscale.common.chat_format import FormatArgs, render_prompt
from thinkscale.common.errors import ConfigError
from thinkscale.eval.benchmarks import Item
from thinkscale.eval.compute import Compute
from thinkscale.grading.extract import extract_answer
from thinkscale.grading.grade import matches
from thinkscale.inference.backend import require_vllm
from thinkscale.inference.forcing.budget import MAX_ANSWER_TOKENS
from thinkscale.inference.hf.tree import Expansion, Node, TreeDecoder
from thinkscale.inference.models.load import count_parameters, load_model, load_tokenizer, resolve_model
from thinkscale.inference.vllm.tree import VLLMTree


@dataclass
class PolicySettings:
    """Sampling and budgets every strategy shares (recipe keys of the same names)."""

    _argument_group_name = "policy: how each path is decoded"  # its flags' heading in --help

    temperature: float = field(default=0.7, metadata={"help": "Sampling temperature of thinking."})
    top_p: float = field(default=1.0, metadata={"help": "Nucleus sampling mass."})
    max_thinking_tokens: int = field(default=512, metadata={"help": "Thinking cap on every path."})
    max_answer_tokens: int = field(
        default=MAX_ANSWER_TOKENS,
        metadata={"help": "Most tokens in the answer (s1's recipes: 32768, no cap short of the context)."},
    )
    step_delimiter: str = field(
        default="\n\n", metadata={"help": "Text that ends a reasoning step (search strategies)."}
    )
    max_step_tokens: int = field(default=96, metadata={"help": "A longer step ends here."})

    def __post_init__(self) -> None:
        Expansion(until="step", step_delimiter=self.step_delimiter, max_step_tokens=self.max_step_tokens,
                  max_thinking_tokens=self.max_thinking_tokens, max_answer_tokens=self.max_answer_tokens)  # fmt: skip
        if self.temperature < 0 or not 0 < self.top_p <= 1:
            raise ConfigError(
                f"--temperature must be >= 0 and --top-p in (0, 1]: {self.temperature}, {self.top_p}"
            )


class Policy:
    def __init__(
        self,
        tree: TreeDecoder,
        fmt: FormatArgs,
        settings: PolicySettings,
        model_path: str = "",
        params: float = 0.0,
    ):
        self.tree, self.fmt, self.s, self.model_path, self.params = tree, fmt, settings, model_path, params

    def spec(self, until: str, **overrides) -> Expansion:
        base = Expansion(until=until, step_delimiter=self.s.step_delimiter, max_step_tokens=self.s.max_step_tokens,
                         max_thinking_tokens=self.s.max_thinking_tokens, max_answer_tokens=self.s.max_answer_tokens,
                         temperature=self.s.temperature, top_p=self.s.top_p)  # fmt: skip
        return replace(base, **overrides)

    def roots(
        self, items: list[Item], computes: list[Compute] | None = None, extra: str | None = None
    ) -> list[Node]:
        """One root per question; its prompt tokens are added to `computes` (None: not counted, e.g. a
        prompt already counted for the samples it was read for)."""
        prompts = [
            render_prompt(
                self.tree.tokenizer, self.fmt, it.question if extra is None else f"{it.question}\n\n{extra}"
            )
            for it in items
        ]
        nodes = self.tree.roots(prompts)
        for n, c in zip(nodes, computes or [], strict=computes is not None):
            c.prompt_tokens += n.prompt_tokens
        return nodes

    def expand(
        self,
        parents: list[Node],
        owners: list[int],
        computes: list[Compute],
        until: str,
        seeds: list[int],
        **kw,
    ) -> list[Node]:
        kids = self.tree.expand(parents, self.spec(until, **kw), seeds)
        for p, k, q in zip(parents, kids, owners, strict=True):
            computes[q].generated_tokens += k.generated - p.generated
            computes[q].model_calls += 1
        return kids

    def judge_easy(self, items: list[Item], computes: list[Compute]) -> list[bool]:
        """The model's own judgement, one prompt read each: P(" easy") > P(" hard") after "This problem is"."""
        tok = self.tree.tokenizer
        ask = "Before solving it: is this problem easy or hard for you? Reply with one word."
        prompts = []
        for it in items:
            chat = render_prompt(tok, self.fmt, f"{it.question}\n\n{ask}")
            prompts.append(chat[: chat.rfind(self.fmt.think_start)] + "This problem is")
        easy_id = tok.encode(" easy", add_special_tokens=False)[0]
        hard_id = tok.encode(" hard", add_special_tokens=False)[0]
        easy, nodes = self.tree.prefers(prompts, easy_id, hard_id)
        for n, c in zip(nodes, computes, strict=True):
            c.prompt_tokens += n.prompt_tokens
            c.model_calls += 1
        return easy

    def states(self, nodes: list[Node]):
        """The nodes' last hidden states, [len(nodes), hidden] (what a value head reads)."""
        return self.tree.states(nodes)

    def thinking(self, node: Node) -> str:
        return self.tree.text(node.thinking_ids).strip()

    def step_text(self, node: Node) -> str:
        return self.tree.text(node.new_ids)

    def answer_text(self, node: Node) -> str:
        return self.tree.text(node.answer_ids).strip()

    def is_right(self, answer: str | None, item: Item) -> bool:
        return matches(answer, item.gold, item.choices)

    def answer(self, node: Node, choices: str | None = None) -> str | None:
        """The final answer of a finished path, read from its answer text only: the s1 study's rule,
        so a path that never answers scores as wrong in both studies."""
        return extract_answer(self.answer_text(node), choices)


def load_policy(model_args, fmt: FormatArgs, settings: PolicySettings, batch_size: int, backend=None,
                states: bool = False) -> Policy:  # fmt: skip
    """The model named by `model_args` behind a TreeDecoder (hf) or a VLLMTree (vllm; `states`: also load
    the model in transformers, lazily, to read hidden states for a value-head verifier)."""

    if backend is not None and backend.is_vllm:
        require_vllm()
        source = resolve_model(model_args.model, model_args.revision)
        tree = VLLMTree.start(source, load_tokenizer(source), fmt, backend, model_args.dtype,
                              state_model=model_args if states else None)  # fmt: skip
        return Policy(tree, fmt, settings, model_args.model, count_parameters(source))
    model, tokenizer = load_model(model_args)
    params = float(sum(p.numel() for p in model.parameters()))
    return Policy(TreeDecoder(model, tokenizer, fmt, batch_size), fmt, settings, model_args.model, params)
