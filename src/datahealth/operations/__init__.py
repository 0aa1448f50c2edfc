"""Survey operations: notices, reminders, deadline extensions, inquiries and FAQ, and the mail outbox."""
