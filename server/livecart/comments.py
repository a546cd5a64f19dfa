"""What the chat is saying, the pure part: questions (zh/en) grouped by what they ask, and hot words.

Question detection is deliberately plain: a comment is a question when it has a question mark or a
question word, and it is grouped by topic (price, size, link, shipping, ...) from a keyword table, so
"多少钱", "价格多少？" and "how much is it" land in one cluster. A host needs "12 people asking about
尺码 (size)", not a classifier; a keyword table is predictable and easy to extend.

Hot words split Chinese with jieba (dictionary + HMM segmentation: "尺码" and "发货" come out as words,
where character n-grams would count "尺码怎" and "码怎么" too) and English on word boundaries, then
drop stop words.
"""

from __future__ import annotations

import logging
import re
import warnings
from collections import Counter, deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

with warnings.catch_warnings():
    # jieba 0.42 imports pkg_resources, which setuptools 67+ deprecates with a warning at import time
    # (and the test suite turns warnings into errors); without pkg_resources jieba reads its files
    # directly, so the warning is noise.
    warnings.simplefilter("ignore", DeprecationWarning)
    warnings.simplefilter("ignore", UserWarning)
    import jieba

__all__ = ["TOPICS", "QuestionBoard", "QuestionCluster", "Segmenter", "WordWindow", "count_words",
           "hot_words", "is_question", "topic_of"]

# topic -> (label zh, label en, keywords). Order matters: the first topic that matches wins.
TOPICS: dict[str, tuple[str, str, tuple[str, ...]]] = {
    "link": ("链接", "link", ("链接", "上车", "小黄车", "购物车", "link", "cart")),
    "how_to_buy": ("怎么买", "how to buy", ("怎么买", "怎么拍", "怎么下单", "在哪买", "哪里买", "怎么抢",
                                            "how to buy", "how do i buy", "how can i buy", "where to buy",
                                            "how to order", "how do i order")),
    "returns": ("退换", "returns", ("退货", "退换", "售后", "换货", "return", "refund", "exchange")),
    "price": ("价格", "price", ("多少钱", "价格", "几块", "多钱", "什么价", "价钱", "how much", "price",
                               "cost")),
    "size": ("尺码", "size", ("尺码", "尺寸", "码数", "多大", "大码", "小码", "几码", "身高", "体重",
                              "size", "fit")),
    "shipping": ("发货", "shipping", ("发货", "快递", "包邮", "几天到", "运费", "物流", "ship", "deliver")),
    "stock": ("库存", "stock", ("有货", "还有吗", "库存", "补货", "in stock", "restock", "sold out")),
    "color": ("颜色", "color", ("颜色", "色号", "什么色", "color", "colour")),
    "material": ("材质", "material", ("材质", "面料", "质量", "成分", "material", "fabric", "quality")),
    "discount": ("优惠", "discount", ("优惠", "打折", "便宜", "券", "coupon", "discount", "promo")),
}
_ZH_QUESTION = ("吗", "呢", "么", "多少", "怎么", "哪", "几", "什么", "能不能", "有没有", "可不可以",
                "是不是")
_EN_QUESTION = re.compile(r"^\s*(how|what|when|where|which|who|why|can|could|is|are|do|does|did|will|"
                          r"would|should|any)\b", re.IGNORECASE)
_ASCII_WORD = re.compile(r"[a-z][a-z']+")
_SPACES = re.compile(r"\s+")


def is_question(text: str) -> bool:
    return ("?" in text or "？" in text or any(w in text for w in _ZH_QUESTION)
            or _EN_QUESTION.match(text) is not None)


def topic_of(text: str) -> str | None:
    """The topic a question asks about, "other" for a question with none, None for no question."""
    if not is_question(text):
        return None
    lowered = text.lower()
    for topic, (_zh, _en, keywords) in TOPICS.items():
        for word in keywords:
            # ASCII keywords match whole words ("fit" is not in "outfit"); Chinese ones anywhere.
            if word.isascii():
                if re.search(r"\b" + re.escape(word), lowered):
                    return topic
            elif word in text:
                return topic
    return "other"


@dataclass(slots=True)
class QuestionCluster:
    topic: str
    askers: int  # distinct users
    asked: int  # questions
    examples: list[str]

    def to_wire(self) -> dict[str, Any]:
        zh, en, _ = TOPICS.get(self.topic, ("其他", "other", ()))
        return {"topic": self.topic, "label_zh": zh, "label_en": en, "askers": self.askers,
                "asked": self.asked, "examples": self.examples}


@dataclass(slots=True)
class QuestionBoard:
    """Questions of the last `window_ms`, per topic. A topic the host answered (acked its cue) counts
    only the questions asked after the answer."""

    window_ms: int = 300_000
    questions: list[tuple[int, str, str, str]] = field(default_factory=list)  # (ts, topic, user, text)
    answered: dict[str, int] = field(default_factory=dict)  # topic -> ms

    def add(self, ts: int, user: str, text: str) -> str | None:
        topic = topic_of(text)
        if topic is not None:  # kept for the whole window: as much text as clusters use, not all of it
            self.questions.append((ts, topic, user, text[:QUESTION_TEXT_CHARS]))
        return topic

    def answer(self, topic: str, at_ms: int) -> None:
        self.answered[topic] = max(at_ms, self.answered.get(topic, 0))

    def clusters(self, now_ms: int) -> list[QuestionCluster]:
        self.questions = [q for q in self.questions if q[0] > now_ms - self.window_ms]
        return cluster(q for q in self.questions if q[1] not in self.answered or q[0] > self.answered[q[1]])


def cluster(questions: Iterable[tuple[int, str, str, str]], examples: int = 3) -> list[QuestionCluster]:
    """Group (ts, topic, user, text) by topic, biggest first (by distinct askers)."""
    users: dict[str, set[str]] = {}
    asked: Counter[str] = Counter()
    samples: dict[str, list[str]] = {}
    for _ts, topic, user, text in questions:
        users.setdefault(topic, set()).add(user)
        asked[topic] += 1
        seen = samples.setdefault(topic, [])
        normal = _SPACES.sub(" ", text.strip())
        if len(seen) < examples and normal not in seen:
            seen.append(normal[:80])
    return sorted((QuestionCluster(t, len(users[t]), asked[t], samples[t]) for t in users),
                  key=lambda c: (-c.askers, -c.asked, c.topic))


# --- hot words -------------------------------------------------------------------------------------

_STOP_ZH = frozenset("""的 了 是 我 你 他 她 它 们 这 那 个 吗 呢 吧 啊 呀 哦 嗯 哈 哈哈 哈哈哈
就 都 也 还 在 有 和 与 很 太 好 不 没 要 会 能 可以 一个 这个 那个 什么 怎么 多少 我们 你们 主播 一下
真的 现在 已经 还有 没有 就是 可能 觉得 感觉 知道 一样 自己 然后 但是 因为 所以 如果 这样 那么""".split())
_STOP_EN = frozenset("""a an the and or but is are was were be been am i you he she it we they me my your our
this that these those to of in on at for with from by as do does did so if not no yes can could will would
should just too very what how when where which who why there here have has had get got please""".split())
_CJK = re.compile(r"[\u3400-\u9fff]+")
MAX_WORD_CHARS = 20
MAX_WORDS = 40  # per comment
QUESTION_TEXT_CHARS = 200  # what a question keeps of its comment (examples show 80)


class Segmenter:
    """Chinese word segmentation (jieba) behind one small interface.

    jieba builds its dictionary once per process (about a second of CPU; its own lock makes that
    thread-safe), and every Segmenter uses that one read-only dictionary: nodes in one process (tests
    run dozens) do not each pay for it. `warm()` lets a server build it off the event loop."""

    def warm(self) -> None:
        if not jieba.dt.initialized:
            jieba.setLogLevel(logging.WARNING)  # not "Building prefix dict..." on every start
            jieba.initialize()

    def words(self, text: str) -> list[str]:
        """The distinct words of one comment that may count as hot words: at most MAX_WORDS of them,
        none longer than MAX_WORD_CHARS (a run of 4,000 letters is not a word, and the director keeps
        each comment's words for its whole window: their size must not follow the comment's)."""
        self.warm()
        out: dict[str, None] = {}
        for run in _CJK.findall(text):
            out.update((w, None) for w in jieba.lcut(run, HMM=True)
                       if 1 < len(w) <= MAX_WORD_CHARS and w not in _STOP_ZH)
        out.update((w, None) for w in _ASCII_WORD.findall(text.lower())
                   if 2 < len(w) <= MAX_WORD_CHARS and w not in _STOP_EN)
        return list(out)[:MAX_WORDS]


class WordWindow:
    """Each recent comment's words, for hot words over a time window, bounded in bytes: a burst of
    comments (big or many) drops the oldest entries past `max_bytes` instead of growing memory.

    Calling contract: `add(ts, words)` in time order; `trim(before)` drops entries older than `before`;
    `lists()` gives the word lists kept, oldest first."""

    __slots__ = ("_bytes", "_entries", "max_bytes")

    ENTRY_OVERHEAD = 120  # a tuple, a list and their slots: a fair per-entry cost on CPython

    def __init__(self, max_bytes: int = 4 * 1024 * 1024) -> None:
        self.max_bytes = max_bytes
        self._entries: deque[tuple[int, list[str], int]] = deque()
        self._bytes = 0

    def add(self, ts: int, words: list[str]) -> None:
        size = self.ENTRY_OVERHEAD + sum(56 + len(w.encode()) for w in words)
        self._entries.append((ts, words, size))
        self._bytes += size
        while self._bytes > self.max_bytes and self._entries:
            self._bytes -= self._entries.popleft()[2]

    def trim(self, before: int) -> None:
        entries = self._entries
        while entries and entries[0][0] < before:
            self._bytes -= entries.popleft()[2]

    def lists(self) -> Iterator[list[str]]:
        return (words for _ts, words, _size in self._entries)

    @property
    def bytes(self) -> int:
        return self._bytes

    def __len__(self) -> int:
        return len(self._entries)


def hot_words(texts: Iterable[str], segmenter: Segmenter, top: int = 10) -> list[tuple[str, int]]:
    """The most frequent words, counted at most once per comment (one spammer repeating a word in a
    single comment is not a trend)."""
    return count_words((segmenter.words(text) for text in texts), top)


def count_words(word_lists: Iterable[list[str]], top: int = 10) -> list[tuple[str, int]]:
    """Each comment's words (already segmented) counted once per comment, most frequent first."""
    counts: Counter[str] = Counter()
    for words in word_lists:
        counts.update(set(words))
    return sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:top]

