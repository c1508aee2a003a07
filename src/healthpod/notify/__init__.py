"""Notifications: what the person is told of accesses to their pod, in an inbox and by email.

`inbox` turns new access-log entries (and consents about to end, guardianships ended by age)
into notifications; `digest` sends them as an email digest through SMTP; `texts` words them in
English and Swedish. No message holds health data: names of actors and delegates, counts,
days and a link to the pod.
"""
