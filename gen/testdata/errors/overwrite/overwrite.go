package overwrite

//capsule:audit type=agent
func Run() {}
