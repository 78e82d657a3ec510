"""Built-in domains: linear equations, systems of two equations, sequences and series.

Problems are built backwards from an integer solution so that every step stays exact.
"""

from __future__ import annotations

import random
from fractions import Fraction

from thinkscale.data.builtin.problem import Problem, Step, fmt, pick, signed


def gen_linear(rng: random.Random, level: int) -> Problem:
    x = pick(rng, -9 if level > 2 else 1, 12 + 3 * level, exclude=(0,))
    if level == 1:
        a = pick(rng, 1, 30)
        b = x + a
        q, params = f"Solve for x: x + {a} = {b}.", (a, b)
        steps = [f"Subtract {a} from both sides.", Step(f"x = {b} - {a}", x, "")]
        check = f"{x} + {a} = {b}. It matches."
    elif level == 2:
        a, b = pick(rng, 2, 9), pick(rng, 1, 20)
        c = a * x + b
        q, params = f"Solve for x: {a}x + {b} = {c}.", (a, b, c)
        steps = [Step(f"Subtract {b}: {a}x = {c} - {b}, so {a}x", c - b), Step(f"x = {c - b} / {a}", x)]
        check = f"{a} * {x} + {b} = {a * x} + {b} = {c}. It matches."
    elif level == 3:
        a, cc = pick(rng, 2, 9), pick(rng, 1, 8)
        if a == cc:
            a += 1
        b = pick(rng, -15, 15)
        d = (a - cc) * x + b
        q, params = f"Solve for x: {a}x {signed(b)} = {cc}x {signed(d)}.", (a, b, cc, d)
        steps = ["Move the x terms to the left and the numbers to the right.",
                 Step(f"{a}x - {cc}x", a - cc, "Left: "), f"so ({a - cc})x on the left.",
                 Step(f"{d} - ({b})", d - b, "Right: "), Step(f"x = {d - b} / {a - cc}", x)]  # fmt: skip
        check = f"left: {a} * {x} {signed(b)} = {a * x + b}; right: {cc} * {x} {signed(d)} = {cc * x + d}. They match."
    else:
        a, b, cc = pick(rng, 2, 7), pick(rng, 1, 9), pick(rng, 1, 6)
        if a == cc:
            a += 1
        d = a * (x + b) - cc * x
        q, params = f"Solve for x: {a}(x + {b}) = {cc}x {signed(d)}.", (a, b, cc, d)
        steps = [Step(f"Expand: {a}(x + {b}) = {a}x + {a * b}. Move terms: {a}x - {cc}x", a - cc),
                 Step(f"{d} - {a * b}", d - a * b, "Numbers: "), Step(f"x = {d - a * b} / {a - cc}", x)]  # fmt: skip
        check = f"{a}({x} + {b}) = {a * (x + b)} and {cc} * {x} {signed(d)} = {cc * x + d}. They match."
    return Problem("linear_equations", level, params, q, steps, x, check)


def gen_systems(rng: random.Random, level: int) -> Problem:
    x, y = pick(rng, 1, 10 + 2 * level), pick(rng, 1, 10 + 2 * level)
    if level == 1:
        s, d = x + y, x - y
        q, params = f"x + y = {s} and x - y = {d}. Find x.", (s, d)
        steps = [Step(f"Add the equations: 2x = {s} + ({d}), so 2x", s + d), Step(f"x = {s + d} / 2", x)]
        check = f"y = {s} - {x} = {y}, and {x} - {y} = {d}. It matches."
        ans = x
    elif level == 2:
        a = pick(rng, 2, 6)
        s, t = x + y, a * x + y
        q, params = f"x + y = {s} and {a}x + y = {t}. Find x.", (s, a, t)
        steps = [Step(f"Subtract the first from the second: {a - 1}x = {t} - {s}, so {a - 1}x", t - s),
                 Step(f"x = {t - s} / {a - 1}", x)]  # fmt: skip
        check = f"y = {s} - {x} = {y}; {a} * {x} + {y} = {t}. It matches."
        ans = x
    elif level == 3:
        a, b = pick(rng, 1, 5), pick(rng, 2, 5)
        e, f = a * x + y, x + b * y
        q, params = f"{a}x + y = {e} and x + {b}y = {f}. Find y.", (a, e, b, f)
        steps = [Step(f"From the first, y = {e} - {a}x. Substitute: x + {b}({e} - {a}x) = {f}, so "
                      f"{b * e} - {a * b - 1}x = {f}, and {a * b - 1}x", b * e - f),
                 Step(f"x = {b * e - f} / {a * b - 1}", x), Step(f"y = {e} - {a} * {x}", y)]  # fmt: skip
        check = f"{a} * {x} + {y} = {e} and {x} + {b} * {y} = {f}. It matches."
        ans = y
    else:
        pa, pc = pick(rng, 6, 15), pick(rng, 2, 5)
        n, total = x + y, pa * x + pc * y
        q = (f"Adult tickets cost {pa} dollars and child tickets cost {pc} dollars. {n} tickets were sold "
             f"for {total} dollars in all. How many adult tickets were sold?")  # fmt: skip
        params = (pa, pc, n, total)
        steps = [f"Let a be adult tickets; then {n} - a are child tickets.",
                 Step(f"If all were child tickets the total would be {n} * {pc}", n * pc),
                 Step(f"The extra money is {total} - {n * pc}", total - n * pc),
                 Step(f"Each adult ticket adds {pa} - {pc} = {pa - pc}, so a = {total - n * pc} / {pa - pc}", x)]  # fmt: skip
        check = f"{x} * {pa} + {y} * {pc} = {x * pa} + {y * pc} = {total}. It matches."
        ans = x
    return Problem("systems", level, params, q, steps, ans, check)


def gen_sequences(rng: random.Random, level: int) -> Problem:
    a1, d = pick(rng, -5, 20), pick(rng, -4, 9, exclude=(0,))
    terms = [a1 + i * d for i in range(4)]
    if level == 1:
        r = a1 + 4 * d
        q, params = f"What is the next term: {', '.join(map(str, terms))}, ...?", (a1, d)
        steps = [Step(f"The difference is {terms[1]} - {terms[0]}", d), Step(f"{terms[3]} {signed(d)}", r)]
        check = f"{terms[2]} {signed(d)} = {terms[3]}, so the pattern holds."
    elif level == 2:
        n = pick(rng, 6, 30)
        r = a1 + (n - 1) * d
        q, params = (
            f"The sequence {', '.join(map(str, terms))}, ... continues. What is term number {n}?",
            (a1, d, n),
        )
        steps = [Step(f"The difference is {terms[1]} - {terms[0]}", d), "Term n is a1 + (n - 1)d.",
                 Step(f"({n} - 1) * {d}", (n - 1) * d), Step(f"{a1} {signed((n - 1) * d)}", r)]  # fmt: skip
        check = f"term 4 would be {a1} + 3 * {d} = {terms[3]}, as given."
    elif level == 3:
        n = pick(rng, 5, 20)
        an = a1 + (n - 1) * d
        r = n * (a1 + an) // 2
        q, params = f"Find the sum of the first {n} terms of {', '.join(map(str, terms))}, ...", (a1, d, n)
        steps = [Step(f"The difference is {d}; term {n} is {a1} + {n - 1} * {d}", an, ""),
                 Step(f"The sum is {n}({a1} + {an}) / 2 = {n} * {a1 + an} / 2", r)]  # fmt: skip
        check = f"pairing first and last: {n} terms average {fmt(Fraction(a1 + an, 2))}, times {n} is {r}."
    else:
        g1, ratio, n = pick(rng, 1, 5), rng.choice([2, 3]), pick(rng, 3, 6)
        gterms = [g1 * ratio**i for i in range(n)]
        r = sum(gterms)
        q = f"Find the sum of the first {n} terms of the geometric sequence {g1}, {g1 * ratio}, {g1 * ratio**2}, ..."
        params = (g1, ratio, n)
        steps = [f"The ratio is {ratio}. The terms are {', '.join(map(str, gterms))}."]
        run = gterms[0]
        for t in gterms[1:]:
            steps.append(Step(f"{run} + {t}", run + t))
            run += t
        check = (
            f"{g1}({ratio}^{n} - 1)/({ratio} - 1) = {g1} * {ratio**n - 1} / {ratio - 1} = {r}. It matches."
        )
    return Problem("sequences", level, params, q, steps, r, check)
