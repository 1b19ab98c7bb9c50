package keys

//capsule:audit type=agent colour=blue
func UnknownKey() {}

//capsule:audit type=agent type=tool
func DuplicateKey() {}

//capsule:audit tenant_id=x
func MissingType() {}

//capsule:audit type=agnet
func UnknownType() {}

//capsule:audit type=tool swallow_errors=yes
func BadBool() error { return nil }

//capsule:audit type=tool oops
func NoEquals() {}

//capsule:audit type=tool source="unterminated
func Unterminated() {}

//capsule:audit type=tool source="bad \q escape"
func BadEscape() {}

//capsule:audit type=tool source=half"quoted"
func StrayQuote() {}

//capsule:audit type=tool domain=
func MissingValue() {}

//capsule:audit type=tool source="a"b
func NoSpaceAfterQuote() {}

//capsule:audit type=tool =x
func EmptyKey() {}

//capsule:audit
func Empty() {}
