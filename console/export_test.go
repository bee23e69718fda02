package console

// LevelOf is levelOf, for the tests.
var LevelOf = levelOf
