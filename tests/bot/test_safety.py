"""The bot's own safety rules: what the blocklist refuses, which tolerance is sent, how NSFW
images are delivered and charged."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from bot.errors import PromptBlocked
from bot.models import GuildSettings, NsfwPolicy, UnknownNsfw
from bot.safety import (
    MAX_PHRASE_CHARS,
    Blocklist,
    DeliveryPlan,
    PostedImage,
    normalize_phrase,
    plan_delivery,
    request_tolerance,
    verdict_line,
)

PHRASES = (
    "Badword",
    "ass",
    "cum",
    "kill",
    "stab",
    "gore",
    "jerk",
    "sexy",
    "pervert",
    "fluff",
    "blood bath",
    "1488",
    "死ね",
)


@pytest.fixture(scope="module")
def blocklist() -> Blocklist:
    return Blocklist((normalize_phrase(phrase), phrase) for phrase in PHRASES)


BLOCKED_PROMPTS = [
    # case
    ("BADWORD", "Badword"),
    ("a BaDwOrD here", "Badword"),
    # accents and other combining marks
    ("bádword", "Badword"),
    ("bàdwörd", "Badword"),
    ("b\u0308a\u0301dword", "Badword"),
    ("kíll", "kill"),
    # NFKC compatibility forms
    ("ｂａｄｗｏｒｄ", "Badword"),
    ("𝐛𝐚𝐝𝐰𝐨𝐫𝐝", "Badword"),
    ("ⓑⓐⓓⓦⓞⓡⓓ", "Badword"),
    ("ﬂuﬀ", "fluff"),
    ("ᴋɪʟʟ", "kill"),
    # Cyrillic look-alikes
    ("bаdword", "Badword"),
    ("bаdwоrd", "Badword"),
    ("ВАDWОRD", "Badword"),
    ("baԁworԁ", "Badword"),
    ("сum", "cum"),
    ("kіll", "kill"),
    ("ɡоrе", "gore"),
    ("јеrk", "jerk"),
    ("ѕеху", "sexy"),
    ("реrvеrt", "pervert"),
    ("ЅЕХУ", "sexy"),
    # Greek look-alikes
    ("bαdwοrd", "Badword"),
    ("κιll", "kill"),
    ("ρerνerτ", "pervert"),
    ("sεχΥ", "sexy"),
    ("ΚΙLL", "kill"),
    # zero-width and invisible characters
    ("bad\u200bword", "Badword"),
    ("bad\u200cword", "Badword"),
    ("bad\u200dword", "Badword"),
    ("bad\u2060word", "Badword"),
    ("bad\u00adword", "Badword"),
    ("b\ufeffa\u200bd\u200bword", "Badword"),
    # letters spelled out with separators
    ("b a d w o r d", "Badword"),
    ("b.a.d.w.o.r.d", "Badword"),
    ("b-a-d word", "Badword"),
    ("b_a_d_w_o_r_d", "Badword"),
    ("b/a/d/w/o/r/d", "Badword"),
    ("b*a*d*w*o*r*d", "Badword"),
    ("b, a, d, w, o, r, d", "Badword"),
    ("b...a...d...w...o...r...d", "Badword"),
    ("b - a - d - w - o - r - d", "Badword"),
    ("b  a \t d \n w  o  r  d", "Badword"),
    ("b a dword", "Badword"),
    ("bad w o r d", "Badword"),
    ("draw a b a d w o r d please", "Badword"),
    ("a.s.s", "ass"),
    ("a s s", "ass"),
    ("A S S", "ass"),
    ("a-s-s.", "ass"),
    ("(a s s)", "ass"),
    ("c u m", "cum"),
    # digit and symbol substitutions
    ("b4dw0rd", "Badword"),
    ("k1ll", "kill"),
    ("ki11", "kill"),
    ("kil1", "kill"),
    ("@ss", "ass"),
    ("a$$", "ass"),
    ("4ss", "ass"),
    ("a55", "ass"),
    ("57@b", "stab"),
    ("$t4b", "stab"),
    ("j3rk", "jerk"),
    ("g0r3", "gore"),
    ("k!ll", "kill"),
    ("k|ll", "kill"),
    ("a $ $", "ass"),
    # a capital I hiding among lowercase letters, a lowercase l among capitals
    ("kiIl", "kill"),
    ("KlLL", "kill"),
    ("bIood bath", "blood bath"),
    # whole words with punctuation around them
    ("ass", "ass"),
    ("what an ass.", "ass"),
    ("ASS!", "ass"),
    ("#ass", "ass"),
    ("@badword", "Badword"),
    ("badword!!!", "Badword"),
    ('"badword"', "Badword"),
    ("ass-hat", "ass"),
    ("don't kill it", "kill"),
    # multi-word phrases, separated or joined
    ("blood bath", "blood bath"),
    ("a Blood-Bath scene", "blood bath"),
    ("bloodbath", "blood bath"),
    ("blood_bath", "blood bath"),
    ("blood   bath", "blood bath"),
    ("blood, bath", "blood bath"),
    ("b l o o d bath", "blood bath"),
    ("blood b a t h", "blood bath"),
    ("bl00d b4th", "blood bath"),
    # entries made of digits, and scripts written without spaces
    ("a 1488 poster", "1488"),
    ("お前は死ねよ", "死ね"),
]


@pytest.mark.parametrize(("prompt", "phrase"), BLOCKED_PROMPTS)
def test_blocked_prompt_is_refused_with_the_phrase_as_typed(
    blocklist: Blocklist, prompt: str, phrase: str
) -> None:
    assert blocklist.match(prompt) == phrase


ALLOWED_PROMPTS = [
    # the blocked word inside ordinary words
    "class",
    "a classic car",
    "my assistant",
    "bass guitar",
    "a narrow passage",
    "a grassy field",
    "the embassy",
    "mass effect",
    "assess the damage",
    "cucumber salad",
    "document",
    "circumference",
    "accumulate snow",
    "scumbag",
    "skill tree",
    "a killer whale",
    "a tartan kilt",
    "stable",
    "gorgeous",
    "beef jerky",
    "perverted",
    "a bloody bathroom",
    # ordinary words are not glued together
    "a bad word",
    "a bad day",
    "bad words",
    # i and l are not the same letter
    "kiil",
    # ordinary prompts
    "a cat sitting on a mat, golden light, photorealistic, 8k",
    "a 3d render of a 4k tv, 16:9, f/1.8, 1080p",
    "U.S.A. flag waving",
    "I am a robot",
    "",
]


@pytest.mark.parametrize("prompt", ALLOWED_PROMPTS)
def test_innocent_prompt_is_not_refused(blocklist: Blocklist, prompt: str) -> None:
    assert blocklist.match(prompt) is None


def test_a_single_word_entry_does_not_match_two_ordinary_words() -> None:
    # "bloodbath" covers "blood-bath" (one word split by punctuation) but not "blood bath":
    # moderators add the spaced form for that. Gluing words would refuse "an al" for "anal".
    single = Blocklist.from_phrases(["bloodbath", "anal"])
    assert single.match("a blood-bath") == "bloodbath"
    assert single.match("a blood bath") is None
    assert single.match("an al pacino poster") is None


def test_spelled_out_run_matches_anywhere_inside_it() -> None:
    # The word boundaries inside "a s s e t s" are unknown, so "ass" is refused there.
    assert Blocklist.from_phrases(["ass"]).match("a s s e t s") == "ass"


def test_check_raises_prompt_blocked_naming_the_phrase(blocklist: Blocklist) -> None:
    with pytest.raises(PromptBlocked) as caught:
        blocklist.check("a b4dw0rd here")
    assert caught.value.phrase == "Badword"
    assert "Badword" in caught.value.user_message
    blocklist.check("a cat")


def test_empty_blocklist_allows_everything() -> None:
    empty = Blocklist()
    assert len(empty) == 0
    assert empty.match("badword") is None
    empty.check("badword")


def test_pattern_is_rebuilt_from_the_typed_phrase_not_the_stored_key() -> None:
    stale = Blocklist([("some key an older version stored", "Badword")])
    assert stale.match("b a d w o r d") == "Badword"


def test_look_alike_entries_count_once_and_the_first_typed_phrase_is_reported() -> None:
    entries = Blocklist.from_phrases(["Badword", "BADWORD", "bаdword", "kill"])
    assert len(entries) == 2
    assert entries.match("badword") == "Badword"


def test_stored_entries_that_are_no_longer_valid_are_skipped() -> None:
    entries = Blocklist([("", "..."), ("x" * 200, "x" * 200), ("kill", "kill")])
    assert len(entries) == 1
    assert entries.match("kill") == "kill"


def test_longest_phrase_at_a_position_is_reported() -> None:
    entries = Blocklist.from_phrases(["blood", "blood bath"])
    assert entries.match("a blood bath") == "blood bath"
    assert entries.match("blood moon") == "blood"


def test_many_prefix_entries_compile_and_match() -> None:
    entries = Blocklist.from_phrases(["a" * size for size in range(1, MAX_PHRASE_CHARS + 1)])
    assert entries.match("x " + "a" * 57 + " y") == "a" * 57
    assert entries.match("x " + "a" * 101 + " y") is None


@pytest.mark.parametrize(
    "spellings",
    [
        (
            "badword",
            "Badword",
            "BADWORD",
            "bаdword",
            "bádword",
            "ｂａｄｗｏｒｄ",
            "b4dw0rd",
            "b a d w o r d",
            "b.a.d.w.o.r.d",
            "bad\u200bword",
            "  badword  ",
            "ʙᴀᴅᴡᴏʀᴅ",
        ),
        ("blood bath", "Blood-Bath", "blood_bath", " blood   bath ", "BLOOD. BATH", "bl00d b4th"),
        ("ass", "@ss", "a$$", "a s s", "A.S.S", "АSS"),
        ("sh!t", "shit", "SHIT!", "$hit"),
    ],
)
def test_look_alike_spellings_share_one_key(spellings: tuple[str, ...]) -> None:
    assert len({normalize_phrase(spelling) for spelling in spellings}) == 1


def test_key_is_readable() -> None:
    assert normalize_phrase("  Blood-Bath ") == "blood bath"
    assert normalize_phrase("b a d word") == "bad word"
    assert normalize_phrase("bloodbath") != normalize_phrase("blood bath")


@pytest.mark.parametrize("text", ["", "   ", "...", "!!!", "- _ -", "\u200b\u200b", "﷽"])
def test_entry_without_letters_is_refused(text: str) -> None:
    with pytest.raises(ValueError, match="at least one letter or digit"):
        normalize_phrase(text)


def test_entry_over_the_length_limit_is_refused() -> None:
    assert normalize_phrase("x" * MAX_PHRASE_CHARS) == "x" * MAX_PHRASE_CHARS
    with pytest.raises(ValueError, match=f"at most {MAX_PHRASE_CHARS} characters"):
        normalize_phrase("x" * (MAX_PHRASE_CHARS + 1))
    with pytest.raises(ValueError, match=f"at most {MAX_PHRASE_CHARS} characters"):
        normalize_phrase("ﷺ" * 10)  # each expands to a whole Arabic phrase


WORD_LETTERS = "abdegiklmnorstuy"
# Zero-width characters are not separators: they join letters (see the table above).
SEPARATORS = [" ", ".", "-", "_", ",", "*", "/", "~", "+", "·", "'", "\t", "\n", " - ", "..."]


@settings(deadline=None)  # sub-millisecond; one stall of a busy machine is no failure
@given(
    word=st.text(WORD_LETTERS, min_size=1, max_size=12),
    gaps=st.lists(st.sampled_from(SEPARATORS), min_size=11, max_size=11),
    context=st.booleans(),
)
def test_a_word_spelled_out_with_separators_is_matched(
    word: str, gaps: list[str], context: bool
) -> None:
    spelled = word[0] + "".join(gap + letter for gap, letter in zip(gaps, word[1:], strict=False))
    prompt = f"draw {spelled} please" if context else spelled
    assert Blocklist.from_phrases([word]).match(prompt) == word


@settings(deadline=None)  # sub-millisecond; one stall of a busy machine is no failure
@given(
    word=st.text(WORD_LETTERS, min_size=1, max_size=8),
    before=st.text(WORD_LETTERS, max_size=4),
    after=st.text(WORD_LETTERS, max_size=4),
    context=st.booleans(),
)
def test_a_word_inside_a_longer_word_is_not_matched(
    word: str, before: str, after: str, context: bool
) -> None:
    assume(before or after)
    longer = before + word + after
    prompt = f"a photo of {longer} at dusk" if context else longer
    assume(word not in prompt.split())
    assert Blocklist.from_phrases([word]).match(prompt) is None


@pytest.mark.parametrize(
    ("tolerance", "ceiling", "age_restricted", "expected"),
    [
        (2, 2, False, 2),
        (2, 2, True, 2),
        (2, 5, False, 2),
        (2, 5, True, 5),
        (0, 6, False, 0),
        (0, 6, True, 6),
        (6, 6, True, 6),
    ],
)
def test_request_tolerance_per_channel(
    tolerance: int, ceiling: int, age_restricted: bool, expected: int
) -> None:
    settings = GuildSettings(safety_tolerance=tolerance, nsfw_channel_tolerance=ceiling)
    assert request_tolerance(settings, age_restricted=age_restricted) == expected


def test_age_restricted_channel_is_never_stricter_than_the_guild() -> None:
    unchecked = GuildSettings.model_construct(safety_tolerance=4, nsfw_channel_tolerance=1)
    assert request_tolerance(unchecked, age_restricted=True) == 4


SPOILER_ONE = "1 image was judged NSFW and is shown as a spoiler."
SPOILER_TWO = "2 images were judged NSFW and are shown as spoilers."
WITHHELD = "not shown outside age-restricted channels"


@pytest.mark.parametrize(
    ("flags", "policy", "age_restricted", "refund", "expected"),
    [
        (
            [False, False],
            NsfwPolicy.SPOILER,
            False,
            True,
            DeliveryPlan((PostedImage(0, False), PostedImage(1, False)), (), 2, None),
        ),
        (
            [True],
            NsfwPolicy.SPOILER,
            False,
            True,
            DeliveryPlan((PostedImage(0, True),), (), 1, SPOILER_ONE),
        ),
        (
            [True, False, True],
            NsfwPolicy.SPOILER,
            True,
            False,
            DeliveryPlan(
                (PostedImage(0, True), PostedImage(1, False), PostedImage(2, True)),
                (),
                3,
                SPOILER_TWO,
            ),
        ),
        (
            [True, True, False, False],
            NsfwPolicy.BLOCK,
            False,
            True,
            DeliveryPlan(
                (PostedImage(2, False), PostedImage(3, False)),
                (0, 1),
                2,
                "2 images were judged NSFW and are not shown outside age-restricted "
                "channels; you were not charged for them.",
            ),
        ),
        (
            [True, False],
            NsfwPolicy.BLOCK,
            False,
            False,
            DeliveryPlan(
                (PostedImage(1, False),),
                (0,),
                2,
                "1 image was judged NSFW and is not shown outside age-restricted "
                "channels; you were still charged for it.",
            ),
        ),
        (
            [True, False],
            NsfwPolicy.BLOCK,
            True,
            True,
            DeliveryPlan((PostedImage(0, True), PostedImage(1, False)), (), 2, SPOILER_ONE),
        ),
        (
            [True, True, True, True],
            NsfwPolicy.BLOCK,
            False,
            True,
            DeliveryPlan(
                (),
                (0, 1, 2, 3),
                0,
                "4 images were judged NSFW and are not shown outside age-restricted "
                "channels; you were not charged for them.",
            ),
        ),
        ([], NsfwPolicy.BLOCK, False, False, DeliveryPlan((), (), 0, None)),
    ],
)
def test_delivery_plan(
    flags: list[bool],
    policy: NsfwPolicy,
    age_restricted: bool,
    refund: bool,
    expected: DeliveryPlan,
) -> None:
    plan = plan_delivery(flags, policy=policy, age_restricted=age_restricted, refund_blocked=refund)
    assert plan == expected


@pytest.mark.parametrize(
    ("policy", "age_restricted", "refund"),
    list(itertools.product(NsfwPolicy, [False, True], [False, True])),
)
def test_delivery_rules_hold_for_every_combination(
    policy: NsfwPolicy, age_restricted: bool, refund: bool
) -> None:
    for size in range(5):
        for flags in itertools.product([False, True], repeat=size):
            plan = plan_delivery(
                flags, policy=policy, age_restricted=age_restricted, refund_blocked=refund
            )
            posted = {image.index: image.spoiler for image in plan.post}
            hidden = policy is NsfwPolicy.BLOCK and not age_restricted
            for index, flagged in enumerate(flags):
                if not flagged:
                    assert posted[index] is False
                elif hidden:
                    assert index in plan.withheld and index not in posted
                else:
                    assert posted[index] is True
            assert sorted([*posted, *plan.withheld]) == list(range(size))
            assert plan.charged_images == len(plan.post) + (0 if refund else len(plan.withheld))
            assert (plan.notice is None) == (not any(flags))
            if plan.withheld:
                assert plan.notice is not None and WITHHELD in plan.notice
                assert ("not charged" in plan.notice) == refund


@pytest.mark.parametrize(
    ("unknown", "spoiler", "withheld", "says"),
    [
        (UnknownNsfw.SPOILER, True, False, "1 image was not checked for NSFW and is shown as a"),
        (UnknownNsfw.POST, False, False, "1 image was not checked for NSFW and posted"),
        (UnknownNsfw.BLOCK, None, True, "1 image was not checked for NSFW and is not shown"),
    ],
)
def test_an_image_nobody_could_judge_follows_the_servers_rule(
    unknown: UnknownNsfw, spoiler: bool | None, withheld: bool, says: str
) -> None:
    plan = plan_delivery(
        [None, False],
        policy=NsfwPolicy.SPOILER,
        unknown=unknown,
        age_restricted=False,
        refund_blocked=True,
    )
    posted = {image.index: image.spoiler for image in plan.post}
    assert posted.get(0) == spoiler and posted[1] is False
    assert (0 in plan.withheld) == withheld
    assert plan.charged_images == (1 if withheld else 2)
    assert plan.notice is not None and plan.notice.startswith(says)


def test_age_restricted_channels_post_unjudged_images_plainly() -> None:
    for unknown in UnknownNsfw:
        plan = plan_delivery(
            [None],
            policy=NsfwPolicy.BLOCK,
            unknown=unknown,
            age_restricted=True,
            refund_blocked=True,
        )
        assert plan.post == (PostedImage(0, False),) and plan.notice is None


def test_the_notice_tells_judged_and_unjudged_images_apart() -> None:
    plan = plan_delivery(
        [True, None, None],
        policy=NsfwPolicy.BLOCK,
        unknown=UnknownNsfw.SPOILER,
        age_restricted=False,
        refund_blocked=False,
    )
    assert plan.withheld == (0,)
    assert plan.notice == (
        "2 images were not checked for NSFW and are shown as spoilers, as this server asks. "
        "1 image was judged NSFW and is not shown outside age-restricted channels; you were "
        "still charged for it."
    )


def test_the_verdict_line_names_who_judged() -> None:
    assert verdict_line(["provider", "provider"]) == "the provider"
    assert verdict_line(["bot", None]) == "not possible, the bot's classifier"
    assert verdict_line([]) is None
