// Command mainpkg audits a function of package main.
package main

import "fmt"

//capsule:audit type=agent
func greet(name string) string { return "hello " + name }

func main() { fmt.Println(auditedGreet("world")) }
