"""The distribution pipeline (partner schema): what happens once a distribution is live.

- audience.py: who a distribution reaches, as SQL.
- fanout.py: from the audience to one code and one queued message per channel and customer.
- automatic.py: live automatic distributions consume the customer event log.
- reminders.py: reminders for codes still unredeemed after N days.
- activity.py: the activity log lines and pause reasons.
- queue.py: starting the pipeline's jobs (entry points in apps.distributions.jobs).

Services (apps.distributions.services) and jobs call into this package; it never calls them.
"""
