package identity

// CheckPattern is checkPattern, for the tests of package identity_test.
var CheckPattern = checkPattern
