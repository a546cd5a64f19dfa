// The pages' words in English and Chinese. t("onlyLeft", {n: 3}) -> "Only 3 left" / "仅剩 3 件".

const WORDS = {
  en: {
    onlyLeft: "Only {n} left", soldOut: "Sold out", endsIn: "Ends in", startsIn: "Starts in",
    ended: "Ended", stopped: "Stopped", scheduled: "Coming up", live: "Live", sold_out: "Sold out",
    justBought: "{name} just bought {qty}", likes: "Likes", shares: "Shares", pinned: "Pinned",
    flashDeal: "Flash deal", viewers: "Viewers online", ordersPerMin: "Orders / min", gmv: "GMV",
    cues: "Cues", noCues: "No cues", ack: "Done", noDeal: "No live deal", left: "Left", held: "Held",
    sold: "Sold", buyers: "Buyers", claimsPerS: "Claims/s", rejections: "Rejections",
    claim: "Grab it", claiming: "Grabbing…", claimed: "Got it! Pay within {m} min",
    reason_not_live: "Not started yet", reason_ended: "This deal has ended", reason_sold_out: "Sold out",
    reason_limit_reached: "You reached the limit for this deal", reason_invalid_qty: "Invalid quantity",
    reason_offline: "Not connected, try again", reason_timeout: "No answer, try again",
    comments: "Comments", say: "Say something…", send: "Send", watchOnly: "Sign in to comment and buy",
    connecting: "Connecting…", reconnecting: "Reconnecting…", connected: "Live", stoppedStatus: "Stopped: {reason}",
    deals: "Deals", newDeal: "New deal", productId: "Product id", productName: "Product name",
    imageUrl: "Image URL", price: "List price", dealPrice: "Deal price", stock: "Stock",
    limitPerUser: "Limit per user", durationS: "Duration (s)", startIn: "Start in (s, empty = now)",
    keyword: "Keyword (optional)", startAt: "or start at", create: "Create deal", start: "Start", stop: "Stop", restock: "Restock",
    pin: "Pin", unpin: "Unpin", confirmRisky: "Deal price {deal} is under 10% of list price {price}. Create anyway?",
    confirmSure: "Yes, create it", cancel: "Cancel", filter: "Filter comments", pinToOverlay: "Pin to overlay",
    unpinComment: "Remove from overlay", announcement: "Announcement", announce: "Announce",
    clearAnnouncement: "Clear", cueText: "Cue for the host", sendCue: "Send cue", priority: "Priority",
    low: "low", normal: "normal", high: "high", audit: "Audit log", refresh: "Refresh",
    copyObs: "Copy OBS URL", copied: "Copied: {what}", copyHost: "Copy host view URL",
    overlayOn: "Overlay connected ({n})", overlayOff: "No overlay connected",
    created: "Deal created", ackFailed: "Cue not marked done ({error}), try again",
    ackedBy: "done by {by}", expired: "stale", lastMin: "Last minute",
    perMin: "{what}/min", claims: "Claims",
    errorPrefix: "Refused", state: "State", actions: "Actions", add: "Add", product: "Product",
    announcing: "Announcement shown", highlightShown: "Comment pinned to overlay",
    cueSent: "Cue sent", orders: "Orders", online: "online",
  },
  zh: {
    onlyLeft: "仅剩 {n} 件", soldOut: "已抢光", endsIn: "距结束", startsIn: "距开抢",
    ended: "已结束", stopped: "已停止", scheduled: "即将开抢", live: "抢购中", sold_out: "已抢光",
    justBought: "{name} 刚刚买了 {qty} 件", likes: "点赞", shares: "分享", pinned: "置顶",
    flashDeal: "限时秒杀", viewers: "在线观众", ordersPerMin: "每分钟订单", gmv: "成交额",
    cues: "提示", noCues: "暂无提示", ack: "完成", noDeal: "暂无秒杀", left: "剩余", held: "锁定",
    sold: "已售", buyers: "买家", claimsPerS: "每秒抢购", rejections: "拒绝",
    claim: "马上抢", claiming: "抢购中…", claimed: "抢到了！请在 {m} 分钟内付款",
    reason_not_live: "还没开始", reason_ended: "活动已结束", reason_sold_out: "已抢光",
    reason_limit_reached: "已达到限购数量", reason_invalid_qty: "数量无效",
    reason_offline: "未连接，请重试", reason_timeout: "无响应，请重试",
    comments: "评论", say: "说点什么…", send: "发送", watchOnly: "登录后可评论和购买",
    connecting: "连接中…", reconnecting: "重新连接中…", connected: "直播中", stoppedStatus: "已停止：{reason}",
    deals: "秒杀", newDeal: "新建秒杀", productId: "商品编号", productName: "商品名称",
    imageUrl: "图片链接", price: "原价", dealPrice: "秒杀价", stock: "库存",
    limitPerUser: "每人限购", durationS: "时长（秒）", startIn: "几秒后开始（空 = 立即）",
    keyword: "口令（可选）", startAt: "或指定开始时间", create: "创建秒杀", start: "开始", stop: "停止", restock: "补货",
    pin: "置顶", unpin: "取消置顶", confirmRisky: "秒杀价 {deal} 低于原价 {price} 的 10%，确定创建吗？",
    confirmSure: "确定创建", cancel: "取消", filter: "筛选评论", pinToOverlay: "上屏",
    unpinComment: "撤下", announcement: "公告", announce: "发布公告",
    clearAnnouncement: "清除", cueText: "给主播的提示", sendCue: "发送提示", priority: "优先级",
    low: "低", normal: "普通", high: "高", audit: "操作日志", refresh: "刷新",
    copyObs: "复制 OBS 链接", copied: "已复制：{what}", copyHost: "复制主播视图链接",
    overlayOn: "直播画面已连接（{n}）", overlayOff: "直播画面未连接",
    created: "秒杀已创建", ackFailed: "提示未能标记完成（{error}），请重试",
    ackedBy: "{by} 已完成", expired: "已过期", lastMin: "最近一分钟",
    perMin: "{what}/分钟", claims: "抢购",
    errorPrefix: "被拒绝", state: "状态", actions: "操作", add: "数量", product: "商品",
    announcing: "公告已发布", highlightShown: "评论已上屏",
    cueSent: "提示已发送", orders: "订单", online: "在线",
  },
};

export function translator(lang) {
  const words = WORDS[lang] || WORDS.en;
  return (key, values = {}) => {
    const template = words[key] ?? WORDS.en[key] ?? key;
    return template.replace(/\{(\w+)\}/g, (_, name) => String(values[name] ?? ""));
  };
}
