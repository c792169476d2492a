<?php
// This file is part of local_lmsbridge, the Moodle companion plugin of lms_bridge.
//
// local_lmsbridge is free software: you can redistribute it and/or modify
// it under the terms of the GNU General Public License as published by
// the Free Software Foundation, either version 3 of the License, or
// (at your option) any later version.
//
// local_lmsbridge is distributed in the hope that it will be useful,
// but WITHOUT ANY WARRANTY; without even the implied warranty of
// MERCHANTABILITY or FITNESS FOR A PARTICULAR PURPOSE.  See the
// GNU General Public License for more details.
//
// You should have received a copy of the GNU General Public License
// along with local_lmsbridge.  If not, see <https://www.gnu.org/licenses/>.

namespace local_lmsbridge\external;

use core_external\external_api;
use local_lmsbridge\examroom;

defined('MOODLE_INTERNAL') || die();

global $CFG;
require_once($CFG->dirroot . '/webservice/tests/helpers.php');

/**
 * Tests of the exam room: the closed ticket quiz and local_lmsbridge_open_ticket.
 *
 * @package    local_lmsbridge
 * @category   test
 * @copyright  2026 lms_bridge contributors
 * @license    https://www.gnu.org/copyleft/gpl.html GNU GPL v3 or later
 * @covers     \local_lmsbridge\external\open_ticket
 * @covers     \local_lmsbridge\external\setup_tickets
 * @covers     \local_lmsbridge\examroom
 */
final class open_ticket_test extends \externallib_advanced_testcase {
    /**
     * A course with the ticket quiz (tickets 1-3) and two students.
     *
     * @return array [course, quizid, student1, student2]
     */
    private function exam(): array {
        $this->resetAfterTest();
        $this->setAdminUser();
        $gen = $this->getDataGenerator();
        $course = $gen->create_course(['idnumber' => 'EXAM-1']);
        $s1 = $gen->create_and_enrol($course, 'student');
        $s2 = $gen->create_and_enrol($course, 'student');
        $tickets = [];
        foreach ([1, 2, 3] as $n) {
            $tickets[] = ['number' => $n, 'name' => '', 'questions' => ["Question {$n}a", "Question {$n}b"]];
        }
        $out = setup_tickets::execute($course->id, '', 'lmsbridge-tickets', '', 1800, 0, $tickets);
        $out = external_api::clean_returnvalue(setup_tickets::execute_returns(), $out);
        return [$course, (int)$out['quizid'], $s1, $s2];
    }

    /**
     * The quiz is created closed to everyone, and the course is managed from then on.
     */
    public function test_the_ticket_quiz_is_closed_to_everyone(): void {
        global $DB;
        [$course, $quizid, $s1] = $this->exam();
        $quiz = $DB->get_record('quiz', ['id' => $quizid]);
        $this->assertGreaterThan(0, (int)$quiz->timeclose);
        $this->assertLessThanOrEqual(time(), (int)$quiz->timeclose);
        $this->assertTrue(examroom::is_managed((int)$course->id));
        $quizobj = \mod_quiz\quiz_settings::create($quizid, $s1->id);
        $this->assertNotEmpty($quizobj->get_access_manager(time())->prevent_access());
    }

    /**
     * Admitted: the quiz opens for that student alone, whose attempt holds exactly the drawn ticket.
     */
    public function test_open_ticket_starts_the_attempt_with_the_drawn_ticket(): void {
        global $DB;
        [, $quizid, $s1, $s2] = $this->exam();
        $now = time();
        $out = open_ticket::execute($quizid, $s1->id, 2, $now - 60, $now + 1800);
        $out = external_api::clean_returnvalue(open_ticket::execute_returns(), $out);
        $this->assertTrue($out['created']);
        $this->assertSame(2, $out['ticketnumber']);
        $attempt = $DB->get_record('quiz_attempts', ['id' => $out['attemptid']]);
        $this->assertEquals($s1->id, $attempt->userid);
        $qa = $DB->get_record('question_attempts', ['questionusageid' => $attempt->uniqueid, 'slot' => $out['slot']]);
        $idnumber = $DB->get_field_sql('SELECT qbe.idnumber FROM {question_bank_entries} qbe
                                          JOIN {question_versions} qv ON qv.questionbankentryid = qbe.id
                                         WHERE qv.questionid = ?', [$qa->questionid]);
        $this->assertSame('ticket-2', $idnumber);
        // Open for the student, still closed for the other one.
        $this->assertEmpty(\mod_quiz\quiz_settings::create($quizid, $s1->id)->get_access_manager(time())->prevent_access());
        $this->assertNotEmpty(\mod_quiz\quiz_settings::create($quizid, $s2->id)->get_access_manager(time())->prevent_access());
        // Again: the same attempt; another ticket for the same student is refused, never replaced.
        $again = open_ticket::execute($quizid, $s1->id, 2, $now - 60, $now + 1800);
        $this->assertFalse($again['created']);
        $this->assertSame($out['attemptid'], $again['attemptid']);
        try {
            open_ticket::execute($quizid, $s1->id, 3, $now - 60, $now + 1800);
            $this->fail('another ticket was accepted');
        } catch (\moodle_exception $e) {
            $this->assertSame('ticketmismatch', $e->errorcode);
        }
        $this->assertSame(1, $DB->count_records('quiz_attempts', ['quiz' => $quizid, 'userid' => $s1->id]));
    }

    /**
     * A student whose enrolment is suspended (no longer admitted) gets no ticket.
     */
    public function test_a_suspended_student_gets_no_ticket(): void {
        global $DB;
        [$course, $quizid, , $s2] = $this->exam();
        $instance = $DB->get_record('enrol', ['courseid' => $course->id, 'enrol' => 'manual'], '*', MUST_EXIST);
        enrol_get_plugin('manual')->update_user_enrol($instance, $s2->id, ENROL_USER_SUSPENDED);
        $this->expectException(\moodle_exception::class);
        $this->expectExceptionMessage(get_string('notenrolledactive', 'local_lmsbridge', $s2->id));
        open_ticket::execute($quizid, $s2->id, 1, time() - 60, time() + 600);
    }

    /**
     * A ticket that is not in the bank is refused.
     */
    public function test_an_unknown_ticket_is_refused(): void {
        [, $quizid, $s1] = $this->exam();
        $this->expectException(\moodle_exception::class);
        open_ticket::execute($quizid, $s1->id, 9, time() - 60, time() + 600);
    }

    /**
     * Without the capability nothing is opened.
     */
    public function test_the_capability_is_required(): void {
        [, $quizid, $s1, $s2] = $this->exam();
        $this->setUser($s2);
        $this->expectException(\required_capability_exception::class);
        open_ticket::execute($quizid, $s1->id, 1, time() - 60, time() + 600);
    }
}
