//! CloudTrail events: envelope parsing and extraction of the resources an event touched.
