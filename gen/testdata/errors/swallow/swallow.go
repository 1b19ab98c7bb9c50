package swallow

type MyErr struct{}

func (*MyErr) Error() string { return "" }

//capsule:audit type=agent swallow_errors=false
func NoResults() {}

//capsule:audit type=agent swallow_errors=false
func NotError() *MyErr { return nil }

//capsule:audit type=agent swallow_errors=false
func ErrorFirst() (error, int) { return nil, 0 }

//capsule:audit type=agent swallow_errors=false
func Fine() (int, error) { return 0, nil }
