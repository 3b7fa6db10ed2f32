package testenv

import (
	"fmt"
	"os/exec"
	"sync"
	"syscall"
	"time"
)

// process is a test server this package started: its stdout and stderr go
// to a log, and exited is closed once it has ended (err says how).
type process struct {
	cmd    *exec.Cmd
	log    *logBuffer
	exited chan struct{}
	err    error
	grace  time.Duration // how long stop waits after SIGTERM before SIGKILL
}

// startProcess starts cmd with its output logged to logPath; onStdout,
// if not nil, also sees each stdout line (to spot a readiness line).
func startProcess(cmd *exec.Cmd, logPath string, grace time.Duration, onStdout func(string)) (*process, error) {
	lb, err := newLogBuffer(logPath)
	if err != nil {
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		lb.close()
		return nil, err
	}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		lb.close()
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		lb.close()
		return nil, fmt.Errorf("starting %s: %w", cmd.Path, err)
	}
	p := &process{cmd: cmd, log: lb, exited: make(chan struct{}), grace: grace}
	var pipes sync.WaitGroup
	pipes.Add(2)
	go func() {
		defer pipes.Done()
		scanLines(stdout, func(line string) {
			lb.add("stdout: " + line)
			if onStdout != nil {
				onStdout(line)
			}
		})
	}()
	go func() { defer pipes.Done(); scanLines(stderr, lb.add) }()
	go func() {
		pipes.Wait() // Wait must not run before the pipes are read to the end
		p.err = cmd.Wait()
		lb.close()
		close(p.exited)
	}()
	return p, nil
}

// stop ends the process: SIGTERM, then SIGKILL after the grace period.
func (p *process) stop() {
	select {
	case <-p.exited:
		return
	default:
	}
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.exited:
	case <-time.After(p.grace):
		p.cmd.Process.Kill()
		<-p.exited
	}
}
