"""What a live-commerce audience writes: short zh/en comments, questions, buying keywords, emoji.

The mix is deliberately like a real 直播间 chat (many one-word keywords, some questions, some long
messages, mixed scripts) so frame sizes and JSON escaping cost what they cost in production.
"""

from __future__ import annotations

import random

__all__ = ["ANNOUNCEMENTS", "NAMES", "comment_text"]

KEYWORDS = ["想要", "要了", "抢", "1", "111", "上链接", "拍了", "已拍", "冲冲冲",
            "want", "buy", "mine!", "sold?"]
QUESTIONS = [
    "多少钱?", "有没有优惠券?", "什么时候发货?", "包邮吗?", "有大码吗?", "适合油皮吗?", "还有库存吗?",
    "主播身高多少?", "能退换吗?", "How much is it?", "Does it ship to Singapore?", "Is there a size L?",
    "Is the discount still on?", "What colours are left?", "Can I pay later?",
]
CHATTER = [
    "主播好美 ❤️", "来了来了", "第一次来直播间", "好看!", "质量怎么样", "上次买的很好用 👍", "哈哈哈哈",
    "支持主播!", "价格太香了", "等了好久", "love this colour", "just joined, what did I miss?",
    "the last one was great, buying again", "so cheap omg 😍", "hello from Kuala Lumpur",
    "这个颜色显白吗?我黄皮,平时穿黑色比较多,想试试亮一点的颜色,主播能不能上身试一下给我们看看",
    "I bought the scarf last week and the fabric is really soft, my mum wants one too, is there a bundle?",
]
NAMES = ["小红", "阿明", "Lin", "Mia", "橙子", "Ken", "糖糖", "Aisha", "大熊", "Sam", "月亮", "Jo"]
ANNOUNCEMENTS = [
    "📢 下一个福利款 1 分钟后开抢,准备好!", "📢 Flash deal in one minute: get ready!",
    "📢 关注主播不迷路,点赞到 10 万加一波福袋", "📢 All orders today ship within 48 hours",
]


def comment_text(rng: random.Random, pad: int = 0) -> str:
    """One comment: 45 % keywords, 25 % questions, 30 % chatter; `pad` adds filler up to that length."""
    roll = rng.random()
    pool = KEYWORDS if roll < 0.45 else QUESTIONS if roll < 0.70 else CHATTER
    text = rng.choice(pool)
    if pad > len(text):
        text += " " + "好" * (pad - len(text) - 1)
    return text
