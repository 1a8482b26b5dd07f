"""Coupon reminders, sent only on a customer's explicit consent (服务号 一次性订阅消息).

- `models`: one row per consent (`CouponReminder`) and the coupon a page offered it for
  (`ReminderIntent`).
- `consent`: what WeChat's subscribe_msg_* pushes record (accept, withdraw, delivery).
- `job`: the background job that sends each due reminder once, with bounded retries.

This is the product's only outbound message: nothing else calls WeChat's send APIs.
"""
