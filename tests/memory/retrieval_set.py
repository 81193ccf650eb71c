"""A small hand-written retrieval set: notes, distractors, and queries that each target one note.

Every query shares at least one content word (after stemming) with its note, so the lexical side
alone can find it; most are phrased differently from the note, so the vector side must understand.
``PARAPHRASES`` share no content word with their note: only semantic similarity finds them.
"""

NOTES = {
    "acme_billing": "Dana at Acme wants invoices sent on the last business day of each month.",
    "sam_gift": "Sam's birthday is on June 3rd and he loves dark chocolate.",
    "onboarding": "Onboarding playbook: send the welcome email, book a kickoff call, share the project drive.",
    "refunds": "Refund policy: customers get their money back within 30 days, no questions asked.",
    "hosting": "The Hetzner server bill renews every March at 40 euros a month.",
    "wifi": "The office wifi password is written on the fridge door.",
    "globex_contact": "At Globex the decision maker is Priya, the head of operations; talk to her, not procurement.",
    "pricing": "Our day rate is 900 dollars; discounts above 10 percent need the operator's sign-off.",
    "taxes": "Quarterly VAT returns are due on the 7th of the second month after the quarter ends.",
    "newsletter": "The newsletter goes out on Thursday mornings; draft it on Tuesday.",
}

DISTRACTORS = [
    "Bought a new ergonomic chair for the home office.",
    "The accountant prefers receipts scanned as PDF.",
    "Lunch with the Initech team was moved to Friday.",
    "Remember to renew the domain name before it lapses in August.",
    "The printer on the second floor jams with thick paper.",
    "Stripe payouts arrive two business days after a charge.",
    "Coffee beans come from the roaster on Elm Street.",
    "The conference in Lisbon is in November; flights are not booked yet.",
    "Tom from Umbrella asked for a case study about logistics.",
    "Keep the design files in the shared Figma workspace.",
    "The van needs its annual inspection in spring.",
    "Slack reminders for standup are set for 9:30.",
    "Contract template v3 includes the new liability clause.",
    "The team photo shoot is postponed until the weather improves.",
    "Backups of the laptop run every night to the NAS.",
    "The bank changed its wire transfer cut-off time to 3 pm.",
    "Podcast interview with Marta is scheduled for next week.",
    "Use the blue logo on dark backgrounds only.",
    "Cancelled the unused Zoom subscription.",
    "The landlord will fix the heating on Monday.",
    "Umbrella's invoices go to their accounts payable mailbox, not to Tom.",
    "Priya's team at Globex uses Microsoft Teams, not Slack.",
    "Gift ideas for clients at year end: local honey or a book.",
    "The welcome pack for new hires includes a laptop and a notebook.",
]

QUERIES = [
    ("when should Acme be invoiced?", "acme_billing"),
    ("what present should I get Sam for his birthday", "sam_gift"),
    ("what is our onboarding playbook for a new client", "onboarding"),
    ("can a customer ask for a refund after three weeks", "refunds"),
    ("how much does the server cost", "hosting"),
    ("what is the wifi password", "wifi"),
    ("who decides purchases at Globex", "globex_contact"),
    ("what is our rate per day", "pricing"),
    ("when is the VAT return due", "taxes"),
    ("which day do we send the newsletter", "newsletter"),
]

PARAPHRASES = [
    ("what's the code for the wireless network", "wifi"),
    ("is a client reimbursed if unhappy", "refunds"),
]
