"""The Mathematics Subject Classification (MSC2020) areas s1 labels its pool with, and its labeller prompt.

    msc_label("05")            # "05 Combinatorics"
    labeller_messages(q)       # the chat s1 sent its classifier (data/featurization.py), for one question

s1 classified each of its 59K questions into one of 61 two-digit MSC areas (51 of them occur in the
pool), asking a chat model (Claude 3.5 Sonnet there) with a rubric of the areas and taking the
two-digit code on the reply's last line. The codes and titles are the public MSC2020's; the short
descriptions below are this toolkit's own summaries of each area, in the rubric's shape
("### Title / * Code / * Description").

Run: imported by `data.domains`; tested in tests/test_curation_stages.py.
"""

from __future__ import annotations

import re

# code -> (MSC2020 title, a short description of what the area covers)
MSC_AREAS: dict[str, tuple[str, str]] = {
    "03": ("Mathematical logic and foundations", "logic, set theory, model and proof theory, computability"),
    "05": (
        "Combinatorics",
        "counting, arrangements, designs, graph theory, extremal and algebraic combinatorics",
    ),
    "06": ("Order, lattices, ordered algebraic structures", "ordered sets, lattices, Boolean algebras"),
    "08": ("General algebraic systems", "universal algebra, varieties, algebraic structures in general"),
    "11": (
        "Number theory",
        "divisibility, primes, congruences, Diophantine equations, digits, arithmetic functions",
    ),
    "12": ("Field theory and polynomials", "polynomials and their roots, field extensions, Galois theory"),
    "13": ("Commutative algebra", "commutative rings, ideals, modules, local algebra"),
    "14": ("Algebraic geometry", "varieties, curves, surfaces, schemes"),
    "15": (
        "Linear and multilinear algebra; matrix theory",
        "matrices, determinants, eigenvalues, vector spaces",
    ),
    "16": ("Associative rings and algebras", "noncommutative rings, modules, representation of algebras"),
    "17": ("Nonassociative rings and algebras", "Lie algebras, Jordan algebras"),
    "18": ("Category theory; homological algebra", "categories, functors, homological methods"),
    "19": ("K-theory", "algebraic and topological K-theory"),
    "20": (
        "Group theory and generalizations",
        "finite and infinite groups, permutation groups, group actions",
    ),
    "22": ("Topological groups, Lie groups", "Lie groups, locally compact groups, their representations"),
    "26": ("Real functions", "functions of real variables, inequalities, derivatives, integrals, limits"),
    "28": ("Measure and integration", "measures, integration theory"),
    "30": ("Functions of a complex variable", "complex numbers and analytic functions of one variable"),
    "31": ("Potential theory", "harmonic and subharmonic functions"),
    "32": ("Several complex variables and analytic spaces", "holomorphic functions of several variables"),
    "33": ("Special functions", "gamma, hypergeometric, orthogonal polynomials and other special functions"),
    "34": ("Ordinary differential equations", "ODEs, initial and boundary value problems"),
    "35": ("Partial differential equations", "PDEs of mathematical physics and their solutions"),
    "37": ("Dynamical systems and ergodic theory", "iteration, orbits, chaos, ergodic theory"),
    "39": ("Difference and functional equations", "recurrences, functional equations"),
    "40": ("Sequences, series, summability", "convergence of sequences and series, summation"),
    "41": ("Approximations and expansions", "approximation by polynomials and other functions, expansions"),
    "42": ("Harmonic analysis on Euclidean spaces", "Fourier series and transforms, wavelets"),
    "43": ("Abstract harmonic analysis", "harmonic analysis on groups"),
    "44": ("Integral transforms, operational calculus", "Laplace and other integral transforms"),
    "45": ("Integral equations", "Fredholm, Volterra and other integral equations"),
    "46": ("Functional analysis", "normed, Banach and Hilbert spaces, distributions"),
    "47": ("Operator theory", "linear operators, spectra"),
    "49": ("Calculus of variations and optimal control; optimization", "extremal problems, optimal control"),
    "51": ("Geometry", "Euclidean geometry of triangles, circles, polygons, solids; lengths, areas, angles"),
    "52": ("Convex and discrete geometry", "convex sets and polytopes, packings, lattice points"),
    "53": ("Differential geometry", "curves and surfaces, Riemannian geometry"),
    "54": ("General topology", "topological spaces, continuity, compactness"),
    "55": ("Algebraic topology", "homotopy, homology"),
    "57": ("Manifolds and cell complexes", "low-dimensional topology, knots, manifolds"),
    "58": ("Global analysis, analysis on manifolds", "analysis on manifolds, global variational problems"),
    "60": (
        "Probability theory and stochastic processes",
        "probability, random variables, expectation, stochastic processes",
    ),
    "62": ("Statistics", "estimation, hypothesis testing, data analysis"),
    "65": ("Numerical analysis", "numerical methods and algorithms for computation"),
    "68": ("Computer science", "algorithms, complexity, programming, data structures, formal languages"),
    "70": (
        "Mechanics of particles and systems",
        "kinematics, dynamics, forces, motion of particles and rigid bodies",
    ),
    "74": ("Mechanics of deformable solids", "elasticity, plasticity, materials"),
    "76": ("Fluid mechanics", "flows, viscosity, hydrodynamics"),
    "78": ("Optics, electromagnetic theory", "light, electromagnetism, circuits' fields"),
    "80": ("Classical thermodynamics, heat transfer", "temperature, heat, entropy, thermodynamic processes"),
    "81": ("Quantum theory", "quantum mechanics, quantum information, particles"),
    "82": (
        "Statistical mechanics, structure of matter",
        "statistical physics, condensed matter, chemistry of matter",
    ),
    "83": ("Relativity and gravitational theory", "special and general relativity"),
    "85": ("Astronomy and astrophysics", "stars, planets, orbits, cosmology"),
    "86": ("Geophysics", "the Earth's physics, seismology, atmosphere"),
    "90": (
        "Operations research, mathematical programming",
        "linear and integer programming, scheduling, networks",
    ),
    "91": (
        "Game theory, economics, finance, and other social and behavioral sciences",
        "games, markets, prices, interest",
    ),
    "92": ("Biology and other natural sciences", "biology, chemistry, medicine, genetics"),
    "93": ("Systems theory; control", "control systems, stability, feedback"),
    "94": ("Information and communication theory, circuits", "coding, information, signals, circuits"),
    "97": ("Mathematics education", "elementary mathematics, school arithmetic and algebra, word problems"),
}

# s1's classifier instruction (its data/featurization.py), word for word.
SYSTEM_PROMPT = (
    "You are a helpful assistant that classifies questions into different subjects based on the provided "
    "classification rubrics. You will be given a question and a list of subjects. You need to classify the "
    "question into one of the subjects. If the question has multiple subjects, you should classify the question "
    "into the most relevant subject. Explain your reasoning, and end your response on a new line with two-digit "
    "code of the subject that the question belongs to."
)


def msc_label(code: str) -> str:
    """The domain label of an MSC code: "05 Combinatorics"."""
    return f"{code} {MSC_AREAS[code][0]}"


def rubric() -> str:
    """Every area in the rubric's shape, blank-line separated."""
    return "\n\n".join(
        f"### {title}\n* Code: {code}\n* Description: {description}"
        for code, (title, description) in MSC_AREAS.items()
    )


def labeller_messages(question: str) -> list[dict]:
    """The chat s1 sent for one question: its instruction, then the question and the rubric."""
    return [
        {"role": "system", "content": SYSTEM_PROMPT},
        {"role": "user", "content": f"## Question\n{question}\n\n## Classification rubrics\n{rubric()}"},
    ]


def code_of_reply(reply: str) -> str | None:
    """The MSC code a reply ends with (s1 takes the last two characters; trailing punctuation and
    markup are allowed here), or None when it ends with none of the 61."""
    m = re.search(r"(\d\d)\W*$", reply.strip())
    return m.group(1) if m and m.group(1) in MSC_AREAS else None
