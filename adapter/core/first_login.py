"""The first-login decision: which customer a subject gets, or why it gets none.

Pure: facts in, a decision out. The login executes the decision (services.resolution and
services.channel_access); the admin dry run (services.admin.DryRun) renders it. Both ask these
functions, so a dry run cannot answer otherwise than the login it describes.

The decision, `Decision`, is one of:

    UseLink(customer_id)      the subject is linked already
    LinkByEmail(customer)     link the one customer holding the subject's verified e-mail
    Create(fields)            create a customer with these fields, then link it
    Adopt(customer)           link the customer an earlier, unanswered creation of this
                              subject made (its answer was lost, BigCommerce kept it)
    Refuse(code, message, public_message)
                              no customer; `code` is the refusal's reason everywhere

For a subject without a link, in this order (the first that applies):

    e-mail            matches  policy and facts                          decision
    missing           -        -                                          Refuse email_missing
    not comparable    -        -                                          Refuse email_not_ascii
                                                                          / email_malformed
    verified          2+       link_by_email                              Refuse email_ambiguous
    verified          1        link_by_email, customer linked elsewhere   Refuse
                                                                          customer_linked_elsewhere
    verified          1        link_by_email                              LinkByEmail
    any               any      create_customers off                       Refuse no_customer
    not verified      any      create_customers on                        Refuse email_unverified
    verified          0        create_customers on                        Create
    verified          1+       create_customers on, link_by_email off     `after_email_in_use`
                               (the creation would meet the e-mail in     for the first match:
                               use)                                       Adopt, Refuse
                                                                          customer_linked_elsewhere
                                                                          or email_in_use

"Verified": asserted so by the IdP, or vouched for by the connection (`email_verified`).
"Matches": customers whose e-mail names the same mailbox (core.emails), so an e-mail that
is not comparable never has any.

Once a customer is chosen, `channel_access` says whether it may use the requested channel.

`after_email_in_use` is also what the login asks when a creation is answered "e-mail in use"
(a customer registered between the look-up and the creation, or created by an earlier
attempt of this subject whose answer was lost): adopt it if it was created at or after the
subject's oldest open creation intent (`adoption_since`), else refuse `email_in_use` unless
the e-mail may be linked, in which case the customers holding it are looked up again and
`link_by_email` decides.

The login looks the e-mail up only where `may_link_by_email` says the result can matter; with
no look-up it passes no matches, decides `Create`, and meets any existing customer as the
creation's "e-mail in use", which leads to the same `after_email_in_use` as a known match.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from adapter.core.emails import UnmatchableEmail, mailbox_key
from adapter.core.identity import Identity

# BigCommerce's date_created is cut to the second and comes from another clock than ours.
# Kept small: a customer registered by hand within it, just before the subject's earlier
# attempt, would pass for the one that attempt created.
ADOPTION_SKEW_SECONDS = 2.0

UNUSABLE_EMAIL = (
    "Your company account's e-mail address cannot be used for a store account here: it may "
    "only contain plain letters, digits and punctuation. Please contact the store."
)


@dataclass(frozen=True)
class FirstLoginPolicy:
    """What a connection allows a first login (its settings of the same names)."""

    link_by_email: bool
    create_customers: bool
    # The connection vouches for every e-mail its IdP sends, asserted verified or not.
    email_verified: bool
    add_channel_to_customer: bool


@dataclass(frozen=True)
class Candidate:
    """A BigCommerce customer as the decision sees it."""

    id: int
    channel_ids: tuple[int, ...] | None = None
    # BigCommerce's clock, to the second; None when its answer does not say.
    date_created: datetime | None = None
    # Linked to another subject of this connection: a customer has at most one.
    linked_elsewhere: bool = False


@dataclass(frozen=True)
class CustomerFields:
    """What a created customer is made with. Names and group follow core.customer_profile."""

    email: str
    first_name: str
    last_name: str
    channel_id: int
    customer_group_id: int | None


@dataclass(frozen=True)
class UseLink:
    customer_id: int
    action: Literal["use_link"] = "use_link"


@dataclass(frozen=True)
class LinkByEmail:
    customer: Candidate
    action: Literal["link_by_email"] = "link_by_email"


@dataclass(frozen=True)
class Create:
    fields: CustomerFields
    action: Literal["create_customer"] = "create_customer"


@dataclass(frozen=True)
class Adopt:
    customer: Candidate
    action: Literal["adopt_customer"] = "adopt_customer"


@dataclass(frozen=True)
class Refuse:
    code: str
    message: str  # for the log and the audit trail
    public_message: str | None = None  # for the shopper; None: the generic refusal page
    action: Literal["refuse"] = "refuse"


Decision = UseLink | LinkByEmail | Create | Adopt | Refuse


def email_refusal(identity: Identity) -> Refuse | None:
    """Why the identity's e-mail can serve no first login, or None when it can."""
    if not identity.email:
        return Refuse("email_missing", "the IdP sent no e-mail for a first login")
    try:
        mailbox_key(identity.email)
    except UnmatchableEmail as exc:
        # Neither linked nor created. Linking would compare it with customers' addresses,
        # which no rule does safely for non-ASCII text (core.emails). Creating would put a
        # look-alike of someone's address into BigCommerce, whose own uniqueness check and
        # look-ups by typed address (password reset) may take it for that person's, or
        # refuse that person's own address later.
        return Refuse(exc.code, f"the IdP's e-mail {exc}", UNUSABLE_EMAIL)
    return None


def email_is_trusted(identity: Identity, policy: FirstLoginPolicy) -> bool:
    """Whether the identity's e-mail may be trusted: asserted verified, or vouched for."""
    return bool(identity.email) and (identity.email_verified or policy.email_verified)


def may_link_by_email(identity: Identity, policy: FirstLoginPolicy) -> bool:
    """Whether customers holding the e-mail may be linked (and so are worth looking up)."""
    return policy.link_by_email and email_is_trusted(identity, policy)


def link_by_email(matches: Sequence[Candidate]) -> LinkByEmail | Refuse | None:
    """The link-by-e-mail rule over the customers holding the e-mail; None when none does."""
    if len(matches) > 1:
        return Refuse("email_ambiguous", "several customers share this e-mail")
    if not matches:
        return None
    return _linkable(matches[0]) or LinkByEmail(matches[0])


def _linkable(customer: Candidate) -> Refuse | None:
    if customer.linked_elsewhere:
        return Refuse(
            "customer_linked_elsewhere",
            "the customer with this e-mail is linked to another subject",
        )
    return None


def adoptable(customer: Candidate, since: datetime | None) -> bool:
    """Whether the customer holding the subject's e-mail is one an earlier attempt of this
    subject asked for without hearing the answer: created at or after the subject's oldest
    open creation intent (`since`)."""
    if since is None or customer.date_created is None:
        return False
    # Created before the subject ever asked for a customer: someone else's.
    return customer.date_created >= since - timedelta(seconds=ADOPTION_SKEW_SECONDS)


def first_login(
    identity: Identity,
    policy: FirstLoginPolicy,
    *,
    link_customer_id: int | None,
    matches: Sequence[Candidate],
    new_customer: CustomerFields | None,
    adoption_since: datetime | None,
) -> Decision:
    """The decision for a login of `identity` (the table in the module docstring).

    `link_customer_id`: the customer the subject is linked to, if any. `matches`: the
    customers holding the identity's mailbox (core.emails), in BigCommerce's order; may be
    empty when `may_link_by_email` is false (see the module docstring). `new_customer`: the
    fields a creation would use (None only when the e-mail is missing or not comparable).
    `adoption_since`: when the subject's oldest open creation intent was recorded.
    """
    if link_customer_id is not None:
        return UseLink(link_customer_id)
    refused = email_refusal(identity)
    if refused is not None:
        return refused
    if may_link_by_email(identity, policy):
        by_email = link_by_email(matches)
        if by_email is not None:
            return by_email
    if not policy.create_customers:
        return Refuse("no_customer", "no linked customer and customer creation is off")
    if not email_is_trusted(identity, policy):
        # A customer made with an unverified address could be claimed later by the
        # address's real owner (password reset) while the IdP user keeps access.
        return Refuse(
            "email_unverified",
            "the IdP did not assert a verified e-mail",
            "Your company account's e-mail address is not verified, so no store account can "
            "be created for it. Please contact the store.",
        )
    if matches:
        # The creation would be answered "e-mail in use", naming the first of them.
        after = after_email_in_use(identity, policy, matches[0], adoption_since)
        # Not None: with matches, a linkable e-mail was decided above.
        assert after is not None
        return after
    assert new_customer is not None
    return Create(new_customer)


def after_email_in_use(
    identity: Identity,
    policy: FirstLoginPolicy,
    taken: Candidate,
    adoption_since: datetime | None,
) -> Adopt | Refuse | None:
    """The decision when creating the customer met its e-mail in use by `taken`.

    None: the e-mail may be linked; look up the customers holding it again and apply
    `link_by_email` (none found then is BigCommerce contradicting itself, not a decision)."""
    if adoptable(taken, adoption_since):
        return _linkable(taken) or Adopt(taken)
    # Someone registered this e-mail first (by hand, or a racing login of another
    # subject). Only a verified e-mail under link_by_email may take it.
    if may_link_by_email(identity, policy):
        return None
    return Refuse(
        "email_in_use",
        "a customer with this e-mail exists and may not be linked by e-mail",
        "An account with your e-mail address already exists in this store. Please ask the "
        "store to link it to your company sign-in.",
    )


# -- channel access ---------------------------------------------------------------------------

ChannelVerdict = Literal["new_customer", "member", "add_channel", "global", "denied"]

CHANNEL_DENIED_PUBLIC = "Your account cannot sign in to this storefront. Please contact the store."


def is_global(channel_ids: Sequence[int] | None) -> bool:
    """A customer without channel_ids may use any channel open to global logins."""
    return not channel_ids


def channel_access(
    channel_ids: Sequence[int] | None,
    channel_id: int,
    *,
    add_channel_to_customer: bool,
    global_logins_allowed: bool | None,
) -> ChannelVerdict:
    """Whether an existing customer may use `channel_id`.

    `member`: the channel is one of theirs. `add_channel`: it is not, and the connection adds
    it to them. `global`: a global customer on a channel open to global logins. `denied`:
    otherwise. `global_logins_allowed` (the channel's setting) is needed only for a global
    customer (`is_global`). A customer the login just created is `new_customer`: it was made
    with the requested channel, and this function is not asked.
    """
    if not is_global(channel_ids):
        assert channel_ids is not None
        if channel_id in channel_ids:
            return "member"
        return "add_channel" if add_channel_to_customer else "denied"
    if global_logins_allowed is None:
        raise ValueError("a global customer's access depends on the channel's setting")
    # A global customer on a channel closed to global logins is refused even when the
    # connection may add channels: giving them channel_ids would take away every other
    # channel they can use today.
    return "global" if global_logins_allowed else "denied"


def channel_refusal(customer_id: int, channel_id: int) -> Refuse:
    return Refuse(
        "channel_denied",
        f"customer {customer_id} may not use channel {channel_id}",
        CHANNEL_DENIED_PUBLIC,
    )
