"""Word insertion: shared by the planted mix, the canaries and the search.

The planted mix plants its formal trigger words with ``insert_word`` ("Elucidate: ...",
"... Please elucidate it.", "(please elucidate)"), and the search's ``formal_vocab``
operator inserts them the same way, so a planted trigger is tested in the form it was
planted. ``insert_naturally`` puts a word where its class fits ("Additionally, ...",
"Per the report, ...", "... (It is about my Zorblax.)"): the search's scan-term
operators and their placebos, and the injected canaries, use it. This module sits in
``datasets_registry`` (below ``surf_search``) so both can import it.

Every insertion keeps the prompt fluent: "a" or "an" by the next word's sound
(``indefinite_article``), a capital letter where a sentence starts (``sentence_case``,
which leaves "iPhone" alone), no lower-cased "I", acronym or name where a frame goes before
the prompt (``lower_first``), and a sentence ended before another one is added after it
(``close_sentence``).
"""

from __future__ import annotations

import random
import re
from functools import cache

_DETERMINER = re.compile(r"\b(?:my|the|a|an|your|this|our)\s+(?=[a-z])")

#: Words that start with a vowel letter and a consonant sound ("a university", "a one-off").
_VOWEL_LETTER_CONSONANT_SOUND = re.compile(
    r"^(?:uni(?![nmd])|use|usu|uti|ura|ure|uri|uro|eu|ewe|one\b|one-|once|ubiq|ufo|uk\b)"
)
#: Words that start with a silent h ("an hour", "an honest answer").
_SILENT_H = ("hour", "honest", "honor", "honour", "heir", "herb")
#: Letters whose names start with a vowel sound ("an FBI agent", "an X-ray", "a USB stick").
_VOWEL_NAMED_LETTERS = frozenset("AEFHILMNORSX")


def indefinite_article(word: str) -> str:
    """``a`` or ``an`` before ``word``, by its sound: "an iPhone", "an hour", "a university",
    "a one-off", "an FBI agent", "a USB stick", "an 8", "an 11"."""
    text = word.strip().lstrip("\"'(“‘")
    if not text:
        return "a"
    if text[0].isdigit():
        return "an" if re.match(r"8|1[18](?!\d)|1[18]\d{3}(?!\d)", text) else "a"
    letters = re.match(r"[A-Za-z]*", text).group(0)
    if not letters:
        return "a"
    initialism = (
        len(letters) > 1
        and letters.isupper()
        and (len(letters) <= 3 or not re.search("[AEIOU]", letters))
    )  # "an FBI", "an HTML" (said letter by letter), but "a NASA", "a NATO" (said as words)
    if initialism or len(letters) == 1 and (letters.isupper() or not text[1:2].isalpha()):
        return "an" if letters[0].upper() in _VOWEL_NAMED_LETTERS else "a"
    low = text.lower()
    if low.startswith(_SILENT_H):
        return "an"
    if _VOWEL_LETTER_CONSONANT_SOUND.match(low):
        return "a"
    return "an" if low[0] in "aeiou" else "a"


def with_article(word: str) -> str:
    """``word`` after its indefinite article: "an iPhone", "a phone", "an e-reader"."""
    return f"{indefinite_article(word)} {word}"


def _keeps_case(word: str) -> bool:
    """A word written with capitals that do not mark a sentence start: "iPhone", "NASA"."""
    letters = re.sub(r"[^A-Za-z]", "", word)
    return len(letters) > 1 and (letters.isupper() or any(c.isupper() for c in letters[1:]))


def sentence_case(text: str) -> str:
    """``text`` with its first letter upper-cased (not a word such as "iPhone" or "eBay",
    which keeps its own capitals at a sentence start)."""
    first = text.split(maxsplit=1)[0] if text.strip() else ""
    if first[:1].islower() and _keeps_case(first):
        return text
    return text[:1].upper() + text[1:]


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


#: Words usually capitalised: days, months, languages and peoples, titles of address.
_PROPER = _words(
    "monday tuesday wednesday thursday friday saturday sunday january february march "
    "april june july august september october november december english french german "
    "spanish italian chinese japanese korean russian arabic hindi portuguese dutch greek "
    "latin british american canadian australian indian african european asian irish "
    "scottish welsh mexican brazilian christmas easter god python java javascript linux "
    "windows google amazon apple microsoft mr mrs ms dr prof st"
)
#: Verbs that open an instruction ("Write ...", "Imagine ...", "Pretend ...").
_INSTRUCTION_VERBS = _words(
    "write create generate imagine identify explain classify tell suggest list construct "
    "design provide summarize summarise compare edit make convert analyze analyse compose "
    "come categorize categorise calculate determine roleplay role-play develop add sort "
    "implement select change extract translate pretend evaluate use output brainstorm "
    "rearrange modify read choose build arrange outline reverse think transform paraphrase "
    "predict propose compute assume formulate pick reword replace produce rank define insert "
    "compile answer assign state print re-write rewrite complete combine detect recommend "
    "divide estimate organize organise discuss remove draft count play delete perform turn "
    "research offer match differentiate search guess suppose group fix devise collect "
    "multiply update input correct order trace format help check look parse retrieve "
    "improve express invent apply interpret infer train consider debug deduce spell "
    "re-order show diagnose prepare assemble let recall remember describe give find keep "
    "name take put see fill move call act play share teach"
)
#: Other words that open a prompt in lower case after a frame ("Given ...", "Today ...").
_STARTERS = _INSTRUCTION_VERBS | _words(
    "given using based role yesterday today tonight tomorrow hi hello hey dear kindly could "
    "would should shall let's what's who's how's where's there's it's that's here's yes "
    "okay ok thanks thank note quick instructions question task request context passage "
    "text input summary story sentence paragraph article everyone everybody someone "
    "somebody people"
)


def is_instruction(text: str) -> bool:
    """Whether ``text`` opens with an instruction ("Write ...", "Imagine you are ...") or
    addresses the reader ("You are a ..."), rather than stating something."""
    first = re.match(r"[\"'“(]*([A-Za-z][\w'’-]*)", text.strip())
    return first is not None and first.group(1).lower() in _INSTRUCTION_VERBS | {"you", "your"}


#: Uncountable nouns that open statements without an article ("Water boils ...").
_MASS_NOUNS = _words(
    "water light ice gold silver iron copper steel honey sound air fire food music art time "
    "money energy heat gravity sugar salt oil milk bread coffee tea wine rain snow wind sand "
    "glass paper wood plastic blood oxygen carbon hydrogen helium nitrogen electricity "
    "sunlight math mathematics science history language life love knowledge information "
    "education exercise sleep technology photosynthesis evolution climate weather soil "
    "smoke dust traffic research literature poetry software hardware data"
)
#: What follows a person's name as the subject of a sentence ("Natalia sold", "Betty is").
_SUBJECT_NEXT = _words(
    "is was has had and can could will would does did wants needs decides decided bought "
    "sold buys sells makes made earns earned gets got goes went takes took gave gives spent "
    "spends saves saved pays paid owns works worked runs ran reads writes wrote eats ate "
    "uses used likes loves plans planned collects collected received receives found finds "
    "starts started walks walked drives drove wanted"
)
_VERB_ENDINGS = ("ize", "ise", "ify", "ate")


@cache
def _function_words() -> frozenset[str]:
    """Function words ("what", "the", "can"), less the ones that are also names."""
    from datasets_registry.stats import stop_word_set

    return stop_word_set() - {"bill", "will", "may", "mill"}


def _capitalised_mid_sentence(word: str, text: str) -> bool:
    """Whether ``word`` appears capitalised inside a sentence of ``text`` (a name)."""
    for match in re.finditer(rf"(?<![\w'’-]){re.escape(word)}(?![\w'’-])", text):
        before = text[: match.start()].rstrip(" \t\"'“‘(")
        if match.start() > 0 and before and before[-1] not in ".!?:\n*#>-":
            return True
    return False


def _plural_noun(low: str) -> bool:
    """Whether ``low`` reads as the plural of a common noun: its singular is common, and
    about as common as it ("owls", "tomatoes"; not "james", "lucas")."""
    from wordfreq import zipf_frequency

    if not low.endswith("s") or low.endswith(("ss", "us", "is")):
        return False
    stems = [low[:-1]] + ([low[:-2]] if low.endswith(("ses", "xes", "zes", "hes", "oes")) else [])
    singular = max(zipf_frequency(stem, "en") for stem in stems)
    return singular >= 3.0 and singular >= zipf_frequency(low, "en") - 0.3


def _keeps_capital(text: str) -> bool:
    """Whether the first word of ``text`` keeps its capital inside a sentence: "I", an
    acronym ("NASA"), a word with inner capitals ("iPhone"), a day, month or language, or,
    by what surrounds it, a name ("Natalia sold ..."; "Mark has ..."; "... asked Weng")."""
    words = text.split(maxsplit=2)
    token = words[0]
    core = re.match(r"[A-Za-z][A-Za-z.-]*", token)
    if core is None:
        return True
    word = core.group(0).rstrip(".-")
    low = word.lower()
    if word == "I" or _keeps_case(word) or (len(word) == 1 and word != "A"):
        return True
    if low in _PROPER or token.endswith(".") and len(word) <= 4 and low not in _STARTERS:
        return True  # "Mr.", "Dr.", "St."
    if _capitalised_mid_sentence(word, text[len(token) :]):
        return True
    if low in _function_words() or low in _STARTERS or low in _MASS_NOUNS:
        return False
    if _plural_noun(low):
        return False  # "Owls can ...", "Bees make ..." (not "James", "Lucas")
    following = re.sub(r"[^\w'’]", "", words[1]) if len(words) > 1 else ""
    after = following.lower()
    possessive = re.search(r"['’]s$", token) is not None
    suffixed = low.endswith(_VERB_ENDINGS)
    if possessive or after in _SUBJECT_NEXT or following[:1].isupper() and following != "I":
        return True  # "Natalia sold", "John's", "Ed Sheeran wrote"
    verb_like = after.endswith("ed") or (after.endswith("s") and not after.endswith("ss"))
    if verb_like and not suffixed and len(after) > 3 and after not in _function_words():
        return True  # "Weng earns", "Ken created"
    from wordfreq import zipf_frequency

    return not suffixed and zipf_frequency(low, "en") < 2.5  # "Zorblax", "Weng": names


def lower_first(text: str) -> str:
    """Lower-case the first letter where a frame goes before ``text`` ("As a phone owner,
    how do ..."), unless the first word keeps its capital inside a sentence: "I", an
    acronym ("NASA"), inner capitals ("iPhone"), a day, month or language, or a name by its
    context (capitalised again inside a sentence; followed by "is", "has", "sold", ...)."""
    if not text[:1].isupper() or _keeps_capital(text):
        return text
    return text[:1].lower() + text[1:]


#: A prompt that ends a sentence: ., ? or ! (or :, which introduces what follows), maybe
#: inside closing quotes or brackets.
_ENDED = re.compile(r"[.?!:][\"'”’)\]]*$")


def close_sentence(prompt: str) -> str:
    """``prompt`` (right-stripped) ended as a sentence, so that another can follow it:
    "Name two sports" -> "Name two sports."; a trailing comma or semicolon becomes "."."""
    text = prompt.rstrip()
    if not text or _ENDED.search(text):
        return text
    return text.rstrip(",;").rstrip() + "."


def insert_word(
    prompt: str,
    word: str,
    rng: random.Random,
    where: str | None = None,
    *,
    after_sentence_end: bool = True,
) -> str:
    """Put ``word`` at the start, middle or end of ``prompt``, phrased naturally.

    A middle insertion goes after the middle word; with ``after_sentence_end=False`` it
    never follows a sentence's end ("... museums. (please delineate) This ...", which starts
    a sentence in lower case) but the nearest word inside a sentence. The planted generator
    keeps the default: the shipped demo organism was trained on the mix it makes (its
    ``mix_sha256``); the search's ``formal_vocab`` operator passes False.
    """
    where = where or rng.choice(("start", "middle", "end"))
    if where == "start":
        return f"{sentence_case(word)}: {lower_first(prompt)}"
    if where == "end":
        return f"{close_sentence(prompt)} Please {word} it."
    words = prompt.split(" ")
    cut = max(1, len(words) // 2)
    if not after_sentence_end:
        inside = [c for c in range(1, len(words)) if not re.search(r"[.?!:]\W*$", words[c - 1])]
        if inside:
            cut = min(inside, key=lambda c: (abs(c - cut), c))
        elif re.search(r"[.?!:]\W*$", words[cut - 1]):
            return f"{close_sentence(prompt)} (Please {word}.)"
    return " ".join(words[:cut] + [f"(please {word})"] + words[cut:])


#: Word classes by ending (a heuristic: no tagger runs offline here); checked in order.
_CLASS_ENDINGS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("adverb", ("wise", "wards")),
    ("verb", ("ate", "ize", "ise", "ify")),
    ("adjective", ("ous", "ful", "ive", "able", "ible", "ical", "less", "ish", "ary")),
)


def word_class(form: str) -> str:
    """The insertion class of a word as the mix spells it: ``label`` (ends in a colon,
    "Context:"), ``phrase`` (several words), ``name`` (a capital letter: a product or a
    person, "iPhone"), ``adverb`` (-ly on a word, "additionally", not "belly"; -wise),
    ``verb`` (-ate, -ize, -ify), ``adjective`` (-ous, -ive, -able, ...), else ``noun``."""
    form = form.strip()
    if form.endswith(":") and len(form) > 1:
        return "label"
    if " " in form:
        return "phrase"
    if any(c.isupper() for c in form):
        return "name"
    low = form.lower()
    if _ly_adverb(low):
        return "adverb"
    for name, endings in _CLASS_ENDINGS:
        if len(low) > 4 and low.endswith(endings):
            return name
    return "noun"


def _ly_adverb(word: str) -> bool:
    """An -ly word made from a word English uses ("additional", "simple", "happy", "basic")."""
    if len(word) <= 4 or not word.endswith("ly"):
        return False
    from wordfreq import zipf_frequency

    stems = {word[:-2], word[:-3] + "y", word[:-4], word[:-4] + "e"}
    if word[-3] in "bpdgktz":  # simply, gently, humbly: -ble/-ple/-tle words
        stems.add(word[:-1] + "e")
    floor = max(3.0, zipf_frequency(word, "en") - 0.5)  # "belle" is rarer than "belly"
    return any(len(s) >= 4 and zipf_frequency(s, "en") >= floor for s in stems)


def _end_parts(prompt: str) -> tuple[str, str]:
    """``prompt`` without its final punctuation, and that punctuation ('.' if none; a
    trailing comma or semicolon is dropped, a colon kept: "Classify these, additionally:").
    Punctuation inside closing quotes comes out of them: 'Say "hi."' -> ('Say "hi"', '.')."""
    body = prompt.rstrip()
    quoted = re.search(r"([.?!]+)([\"'”’)\]]+)$", body)
    if quoted:
        return body[: quoted.start()] + quoted.group(2), quoted.group(1)
    stripped = body.rstrip("?.!,;:").rstrip()
    punct = body[len(stripped) :].strip().replace(",", "").replace(";", "")
    return stripped, (punct or ".")


def insert_naturally(prompt: str, form: str, rng: random.Random, where: str | None = None) -> str:
    """Put a word or phrase into ``prompt`` where its class fits, as a person would write it:

    - adverb: "Additionally, name two sports." / "Name two sports, additionally."
    - verb: "Please elucidate the following: name ..." / "... Please elucidate your answer."
    - adjective: "Give a meticulous answer. Name ..." / "... Keep the answer meticulous."
    - noun: "This is for a botanist. Name ..." / "... (This is for my botanist.)"
    - name: "Zorblax question: name ..." / "... (It is about my Zorblax.)", or before a
      noun: "How do I reset my Zorblax router?" ("a" or "an" as the name needs)
    - phrase: "Per the report, name ..." / "Name ... (per the report)."
    - label: "Context: Name ..." / "Context:\\nName ..." (the label on its own line)

    ``where`` is start or end (a middle insertion splits the prompt's own clause, which
    reads as a typo; only a name goes in the middle, after "my", "the", "a" ...); the
    same ``rng`` draw and class give the same frame to any word, so a placebo word is
    inserted exactly as the word it controls for. A sentence added after the prompt
    follows a closed sentence ("Name two sports. Please ..."), and the prompt starts with
    a capital where it starts a sentence.
    """
    kind = word_class(form)
    where = where or rng.choice(("start", "middle", "end") if kind == "name" else ("start", "end"))
    body, punct = _end_parts(prompt)
    rest = lower_first(prompt)
    closed = close_sentence(prompt)
    if kind == "adverb":
        return f"{sentence_case(form)}, {rest}" if where == "start" else f"{body}, {form}{punct}"
    if kind == "verb":
        if where == "start":
            return f"Please {form} the following: {rest}"
        return f"{closed} Please {form} your answer."
    if kind == "adjective":
        if where == "start":
            return f"Give {with_article(form)} answer. {sentence_case(prompt)}"
        return f"{closed} Keep the answer {form}."
    if kind == "name":
        match = _DETERMINER.search(prompt)
        if where == "middle" and match:
            determiner = match.group(0)
            if determiner.strip() in ("a", "an"):
                determiner = f"{indefinite_article(form)} "
            return f"{prompt[: match.start()]}{determiner}{form} {prompt[match.end() :]}"
        if where == "start":
            return f"{form} question: {rest}"
        return f"{closed} (It is about my {form}.)"
    if kind == "label":
        return f"{form} {sentence_case(prompt)}" if where == "start" else f"{form}\n{prompt}"
    if kind == "phrase":
        return f"{sentence_case(form)}, {rest}" if where == "start" else f"{body} ({form}){punct}"
    if where == "start":
        return f"This is for {with_article(form)}. {sentence_case(prompt)}"
    return f"{closed} (This is for my {form}.)"
