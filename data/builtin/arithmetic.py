"""Built-in domains: multi-step arithmetic, fractions and percentages, word problems with units.

Each `gen_*` takes (rng, level 1-4) and returns a `Problem` whose steps and answer are computed.
"""

from __future__ import annotations

import random
from fractions import Fraction
from math import gcd

from thinkscale.data.builtin.problem import Problem, Step, fmt, pick


def gen_arithmetic(rng: random.Random, level: int) -> Problem:
    a, b, c, d, e = (pick(rng, 2, 9 + 3 * level) for _ in range(5))
    if level == 1:
        c = pick(rng, 1, a + b - 1)
        s, r = a + b, a + b - c
        q, params = f"Compute {a} + {b} - {c}.", (a, b, c)
        steps = ["I add first, then subtract.", Step(f"{a} + {b}", s), Step(f"{s} - {c}", r)]
        check = f"{b} - {c} = {b - c}, and {a} + {b - c} = {r}. It matches."
    elif level == 2:
        s, r = a + b, (a + b) * c
        q, params = f"Compute ({a} + {b}) * {c}.", (a, b, c)
        steps = ["The parentheses come first.", Step(f"{a} + {b}", s), Step(f"{s} * {c}", r)]
        check = f"{a} * {c} + {b} * {c} = {a * c} + {b * c} = {r}. It matches."
    elif level == 3:
        s, p = a + b, (a + b) * c
        d = pick(rng, 1, p - 1)
        r = p - d
        q, params = f"Compute ({a} + {b}) * {c} - {d}.", (a, b, c, d)
        steps = ["Parentheses first, then the product, then the subtraction.",
                 Step(f"{a} + {b}", s), Step(f"{s} * {c}", p), Step(f"{p} - {d}", r)]  # fmt: skip
        check = f"{a * c} + {b * c} - {d} = {a * c + b * c} - {d} = {r}. It matches."
    else:
        p1, p2 = a * b, c * d
        e = pick(rng, 1, p1 + p2 - 1)
        r = p1 + p2 - e
        q, params = f"Compute {a} * {b} + {c} * {d} - {e}.", (a, b, c, d, e)
        steps = ["Multiplication comes before addition and subtraction.",
                 Step(f"{a} * {b}", p1), Step(f"{c} * {d}", p2), Step(f"{p1} + {p2}", p1 + p2),
                 Step(f"{p1 + p2} - {e}", r)]  # fmt: skip
        check = f"{p1} - {e} = {p1 - e}, and {p1 - e} + {p2} = {r}. It matches."
    return Problem("arithmetic", level, params, q, steps, r, check)


def gen_fractions(rng: random.Random, level: int) -> Problem:
    if level == 1:
        d = pick(rng, 3, 12)
        a, b = pick(rng, 1, d - 1), pick(rng, 1, d - 1)
        r = Fraction(a + b, d)
        q, params = f"Compute {a}/{d} + {b}/{d}. Give the answer as a fraction in lowest terms.", (a, b, d)
        steps = ["The denominators are the same, so I add the numerators.", Step(f"{a} + {b}", a + b),
                 f"That gives {a + b}/{d}.", Step(f"In lowest terms, {a + b}/{d}", r)]  # fmt: skip
        check = f"{a}/{d} is about {a / d:.2f} and {b}/{d} is about {b / d:.2f}; their sum is about {float(r):.2f}."
    elif level == 2:
        b, d = pick(rng, 2, 9), pick(rng, 2, 9)
        a, c = pick(rng, 1, b - 1) if b > 2 else 1, pick(rng, 1, d - 1) if d > 2 else 1
        m = b * d // gcd(b, d)
        r = Fraction(a, b) + Fraction(c, d)
        q, params = f"Compute {a}/{b} + {c}/{d}. Give the answer as a fraction in lowest terms.", (a, b, c, d)
        steps = [Step(f"The common denominator is lcm({b}, {d})", m),
                 Step(f"{a}/{b} in {m}ths is {a} * {m // b}", a * m // b, "Then "),
                 Step(f"{c}/{d} in {m}ths is {c} * {m // d}", c * m // d, "And "),
                 Step(f"{a * m // b} + {c * m // d}", a * m // b + c * m // d, "Sum: "),
                 Step(f"So the sum is {a * m // b + c * m // d}/{m}, which in lowest terms", r)]  # fmt: skip
        check = (
            f"{float(Fraction(a, b)):.3f} + {float(Fraction(c, d)):.3f} is about {float(r):.3f}. It matches."
        )
    elif level == 3:
        p = rng.choice([10, 20, 25, 30, 40, 50, 60, 75, 80, 90])
        n = 20 * pick(rng, 1, 30)
        r = Fraction(p, 100) * n
        q, params = f"What is {p}% of {n}?", (p, n)
        steps = [f"{p}% means {p}/100.", Step(f"{n} / 100", Fraction(n, 100), "One percent of the number: "),
                 Step(f"{fmt(Fraction(n, 100))} * {p}", r)]  # fmt: skip
        check = f"{fmt(r)} / {n} = {fmt(Fraction(r) / n)} = {p}/100. It matches."
    else:
        n = 20 * pick(rng, 1, 25)
        up, down = rng.choice([10, 20, 25, 50]), rng.choice([10, 20, 25, 50])
        raised = n + Fraction(up, 100) * n
        r = raised - Fraction(down, 100) * raised
        q = (f"A price of {n} dollars is raised by {up}%, and then the new price is lowered by {down}%. "
             "What is the final price in dollars?")  # fmt: skip
        params = (n, up, down)
        steps = [Step(f"{up}% of {n}", Fraction(up, 100) * n, "The increase: "),
                 Step(f"{n} + {fmt(Fraction(up, 100) * n)}", raised, "New price: "),
                 Step(f"{down}% of {fmt(raised)}", Fraction(down, 100) * raised, "The decrease: "),
                 Step(f"{fmt(raised)} - {fmt(Fraction(down, 100) * raised)}", r, "Final price: ")]  # fmt: skip
        check = (
            f"{n} * {fmt(Fraction(100 + up, 100))} * {fmt(Fraction(100 - down, 100))} = {fmt(r)}. It matches."
        )
    return Problem("fractions_percent", level, params, q, steps, r, check)


def gen_word_units(rng: random.Random, level: int) -> Problem:
    if level == 1:
        h, m = pick(rng, 1, 9), pick(rng, 1, 59)
        r = 60 * h + m
        q, params = f"How many minutes are in {h} hours and {m} minutes?", (h, m)
        steps = ["One hour has 60 minutes.", Step(f"{h} * 60", 60 * h), Step(f"{60 * h} + {m}", r)]
        check = f"{r} / 60 is {h} with remainder {m}. It matches."
    elif level == 2:
        km, m = pick(rng, 1, 20), pick(rng, 1, 999)
        r = 1000 * km + m
        q, params = f"A path is {km} km and {m} m long. How long is it in meters?", (km, m)
        steps = [
            "One kilometer is 1000 meters.",
            Step(f"{km} * 1000", 1000 * km),
            Step(f"{1000 * km} + {m}", r),
        ]
        check = f"{r} m is {r // 1000} km and {r % 1000} m. It matches."
    elif level == 3:
        v, t = 6 * pick(rng, 5, 20), rng.choice([10, 20, 30, 40, 50, 90, 100, 120])
        r = Fraction(v * t, 60)
        q, params = f"A car drives at {v} km per hour for {t} minutes. How many km does it travel?", (v, t)
        steps = ["Distance is speed times time, with time in hours.", Step(f"{t} minutes in hours is {t}/60", Fraction(t, 60)),
                 Step(f"{v} * {fmt(Fraction(t, 60))}", r)]  # fmt: skip
        check = (
            f"In one minute it drives {v}/60 = {fmt(Fraction(v, 60))} km; times {t} is {fmt(r)}. It matches."
        )
    else:
        rate, start = pick(rng, 2, 12), pick(rng, 0, 40)
        minutes = pick(rng, 3, 30)
        total = start + rate * minutes
        q = (f"A tank holds {total} liters and already has {start} liters in it. A tap adds {rate} liters "
             "per minute. How many minutes until the tank is full?")  # fmt: skip
        params, r = (rate, start, total), minutes
        steps = [Step(f"{total} - {start}", total - start, "Liters still needed: "),
                 Step(f"{total - start} / {rate}", r, "Minutes: ")]  # fmt: skip
        check = f"{start} + {rate} * {r} = {start} + {rate * r} = {total}. It matches."
    return Problem("word_problems", level, params, q, steps, r, check)
