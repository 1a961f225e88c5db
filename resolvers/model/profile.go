package model

import "time"

// Relation is how the viewer of a profile relates to the person in it; the
// @pii policy decides every personal field from it.
type Relation int

// The relations the @pii policy knows.
const (
	RelationNone       Relation = iota // anyone else: personal fields are FORBIDDEN
	RelationOwner                      // the person themselves
	RelationConsultant                 // the person's assigned consultant
)

// Access is what the @pii policy needs to know about one viewed profile.
// Resolvers fill it when they build the profile, so the policy makes no
// store calls per field.
type Access struct {
	Relation Relation
	// Owner is the data subject, for the audit trail.
	Owner string
	// ContactConsent: the person granted CONSULTANT_CONTACT.
	ContactConsent bool
	// PersonalizationConsent: the person granted PERSONALIZATION.
	PersonalizationConsent bool
}

// Profile is the GraphQL Profile type.
type Profile struct {
	ID              string
	DisplayName     *string
	Mobile          *string
	Email           *string
	Birthday        *string
	Addresses       []*Address
	PreferredLocale *string
	Skin            *SkinProfile
	ConsultantID    *string
	UpdatedAt       time.Time
	// Access is read by the @pii policy; it is not a GraphQL field.
	Access Access
}

// Address is the GraphQL Address type.
type Address struct {
	ID              string
	RecipientName   string
	RecipientMobile string
	Province        string
	City            string
	District        string
	Line1           string
	Line2           *string
	PostalCode      *string
	IsDefault       bool
}

// SkinProfile is the GraphQL SkinProfile type.
type SkinProfile struct {
	Type     *string
	Concerns []string
}
