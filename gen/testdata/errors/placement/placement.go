package placement

//capsule:audit type=agent
type T struct{}

//capsule:audit type=agent
var V = 1

//capsule:audit type=agent

func Detached() {}

// Twice has two directives.
//
//capsule:audit type=agent
//capsule:audit type=tool
func Twice() {}

//capsule:audit type=system
func init() {}

func Body() {
	//capsule:audit type=agent
	_ = 1
}

type I interface {
	//capsule:audit type=agent
	M()
}

// Not a directive: //capsule:audit type=nothing
//
//capsule:auditing type=nothing
func NotDirectives() {}
