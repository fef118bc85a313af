/*
 * FormFiller -- a test tool that fills in an XForm the way ODK Collect's form
 * engine (JavaRosa) does, so that Verivali's tests can submit instances that
 * were genuinely produced and serialised by JavaRosa rather than hand-written.
 *
 * This file owns the whole "be ODK Collect" side of those tests:
 *   - parsing the form with JavaRosa's XFormParser (via XFormUtils),
 *   - initialising a brand-new instance (start / deviceid / instanceID
 *     preloads fire here, exactly as when Collect opens a blank form),
 *   - stepping through the form with FormEntryController / FormEntryModel
 *     and answering each question with a properly typed IAnswerData,
 *     enforcing constraints and required-ness as Collect does,
 *   - finalising the form (end-of-form post-processing sets `end`), and
 *   - serialising the main instance with XFormSerializingVisitor into the
 *     bytes Collect would upload as the submission's xml_submission_file.
 *
 * It is compiled and run against the JavaRosa classes bundled in pyxform's
 * ODK_Validate.jar (JavaRosa 5.x), see README.md and filler.py next to it.
 *
 * Usage:
 *   java -cp ODK_Validate.jar:<classes dir> FormFiller FORM.xml ANSWERS.properties [MEDIA_DIR]
 *
 * MEDIA_DIR is the form's media directory (Collect: forms/<name>-media/). As
 * in Collect, jr://images/, jr://image/, jr://audio/, jr://video/,
 * jr://file-csv/ and jr://file/ URIs then resolve to files in it, so CSV /
 * XML / GeoJSON external secondary instances (select_one_from_file,
 * csv-external, xml-external, instance('x')/...) load their data; pulldata()
 * is answered from the CSV files in it the way Collect's
 * ExternalDataHandlerPull does (JavaRosa itself has no pulldata). Without
 * MEDIA_DIR no jr:// root is registered: external instances stay empty and
 * pulldata() returns "" (both warned on stderr). Collect's search()
 * appearance is not supported (it is Collect code, not JavaRosa): such
 * questions only offer the choices written in the form.
 *
 * ANSWERS.properties (UTF-8 java.util.Properties):
 *   nama=Budi                      question path without root, no indexes
 *   grp/umur=42                    questions inside groups
 *   anggota@count=2                number of instances of repeat `anggota`
 *   anggota/nama_anggota#1=Ani     answer for the 1st instance of the repeat
 *   anggota/nama_anggota=X         fallback for instances without #n
 *   @property.deviceid=collect:X   value of a Collect "property" preload
 *                                  (deviceid, username, email, phonenumber)
 * For nested repeats the "#" suffix is either the innermost instance number
 * (`outer/inner/q#2`) or the full outer-to-inner chain (`outer/inner/q#1.2`,
 * which wins); `outer/inner@count#1` sets the inner count for outer #1.
 *
 * Value formats: plain text; select_one = choice value; select_multiple /
 * rank = space-separated choice values; geopoint = "lat lon alt acc";
 * date = yyyy-mm-dd; time = HH:mm[:ss]; dateTime = ISO 8601; binary
 * (image/audio/video/file) = the attachment file name; numbers as text.
 * An empty value means "explicitly leave blank" (clears a default).
 *
 * Exit codes:
 *   0  success, the instance XML (UTF-8) is on stdout
 *   1  usage, I/O, form parse or internal error
 *   2  an answer was rejected like Collect would reject it: constraint
 *      violated, required question left empty, value not valid for the
 *      question's type, unknown choice, answer for a read-only question
 *   3  some answer keys were never used (typo, or question not relevant)
 */

import java.io.ByteArrayOutputStream;
import java.io.File;
import java.io.FileInputStream;
import java.io.FileNotFoundException;
import java.io.FileOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.io.OutputStream;
import java.io.Reader;
import java.nio.charset.Charset;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.security.SecureRandom;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.Enumeration;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Properties;
import java.util.Set;
import java.util.TreeSet;

import org.javarosa.core.model.Constants;
import org.javarosa.core.model.FormDef;
import org.javarosa.core.model.FormIndex;
import org.javarosa.core.model.IDataReference;
import org.javarosa.core.model.ItemsetBinding;
import org.javarosa.core.model.SelectChoice;
import org.javarosa.core.model.SubmissionProfile;
import org.javarosa.core.model.condition.EvaluationContext;
import org.javarosa.core.model.condition.IConditionExpr;
import org.javarosa.core.model.condition.IFunctionHandler;
import org.javarosa.core.model.data.IAnswerData;
import org.javarosa.core.model.data.SelectMultiData;
import org.javarosa.core.model.data.SelectOneData;
import org.javarosa.core.model.data.StringData;
import org.javarosa.core.model.data.helper.Selection;
import org.javarosa.core.model.instance.DataInstance;
import org.javarosa.core.model.instance.ExternalDataInstance;
import org.javarosa.core.model.instance.InstanceInitializationFactory;
import org.javarosa.core.model.instance.TreeElement;
import org.javarosa.core.model.instance.TreeReference;
import org.javarosa.core.reference.PrefixedRootFactory;
import org.javarosa.core.reference.Reference;
import org.javarosa.core.reference.ReferenceManager;
import org.javarosa.core.reference.RootTranslator;
import org.javarosa.core.services.IPropertyManager;
import org.javarosa.core.services.PropertyManager;
import org.javarosa.core.services.properties.IPropertyRules;
import org.javarosa.core.services.transport.payload.IDataPayload;
import org.javarosa.form.api.FormEntryCaption;
import org.javarosa.form.api.FormEntryController;
import org.javarosa.form.api.FormEntryModel;
import org.javarosa.form.api.FormEntryPrompt;
import org.javarosa.model.xform.XFormSerializingVisitor;
import org.javarosa.model.xform.XFormsModule;
import org.javarosa.model.xform.XPathReference;
import org.javarosa.xform.util.XFormAnswerDataParser;
import org.javarosa.xform.util.XFormUtils;
import org.javarosa.xpath.XPathConditional;
import org.javarosa.xpath.expr.XPathFuncExpr;

import org.apache.commons.csv.CSVFormat;
import org.apache.commons.csv.CSVParser;
import org.apache.commons.csv.CSVRecord;

public final class FormFiller {

    static final int EXIT_OK = 0;
    static final int EXIT_ERROR = 1;
    static final int EXIT_REJECTED = 2;
    static final int EXIT_UNUSED_KEYS = 3;

    /** Prefix of answer-file keys that configure Collect "property" preloads. */
    static final String PROPERTY_PREFIX = "@property.";
    /** Suffix of answer-file keys that give a repeat's instance count. */
    static final String COUNT_SUFFIX = "@count";

    /** Raised when Collect would refuse to let the enumerator go on. */
    static final class RejectedAnswer extends Exception {
        private static final long serialVersionUID = 1L;

        RejectedAnswer(String message) {
            super(message);
        }
    }

    /** Raised when answer keys matched no question that was reached. */
    static final class UnusedKeys extends Exception {
        private static final long serialVersionUID = 1L;

        UnusedKeys(String message) {
            super(message);
        }
    }

    /** Collect's FormUtils.enumerateHostStrings(): jr:// hosts that map to the media dir. */
    static final String[] MEDIA_HOSTS = {"images", "image", "audio", "video", "file-csv", "file"};

    private final Properties answers;
    /** The form's media directory, or null when none was given. */
    private final File mediaDir;
    private final Set<String> usedKeys = new LinkedHashSet<>();
    /** Ids of external secondary instances that loaded no data (file missing or empty). */
    private final List<String> emptyExternalInstances = new ArrayList<>();
    private MediaReferenceFactory mediaFactory;
    private FormEntryController controller;
    private FormEntryModel model;

    private FormFiller(Properties answers, File mediaDir) {
        this.answers = answers;
        this.mediaDir = mediaDir;
    }

    public static void main(String[] args) {
        if (args.length != 2 && args.length != 3) {
            System.err.println("usage: java -cp ODK_Validate.jar:<classes> FormFiller FORM.xml ANSWERS.properties [MEDIA_DIR]");
            System.exit(EXIT_ERROR);
        }
        int code;
        try {
            Properties answers = new Properties();
            try (Reader r = new InputStreamReader(new FileInputStream(args[1]), StandardCharsets.UTF_8)) {
                answers.load(r);
            }
            File mediaDir = null;
            if (args.length == 3) {
                mediaDir = new File(args[2]).getAbsoluteFile().toPath().normalize().toFile();
                if (!mediaDir.isDirectory()) {
                    throw new FileNotFoundException("media directory " + mediaDir + " is not a directory");
                }
                if (mediaDir.getParentFile() == null) {
                    throw new IllegalArgumentException("the media directory cannot be the file system root");
                }
            }
            byte[] xml = new FormFiller(answers, mediaDir).run(args[0]);
            System.out.write(xml);
            System.out.flush();
            code = EXIT_OK;
        } catch (RejectedAnswer e) {
            System.err.println("FormFiller: answer rejected: " + e.getMessage());
            code = EXIT_REJECTED;
        } catch (UnusedKeys e) {
            System.err.println("FormFiller: " + e.getMessage());
            code = EXIT_UNUSED_KEYS;
        } catch (Throwable e) {
            System.err.println("FormFiller: error: " + e);
            e.printStackTrace(System.err);
            code = EXIT_ERROR;
        }
        System.exit(code);
    }

    // ------------------------------------------------------------------
    // The form-entry session, in the order Collect performs it.
    // ------------------------------------------------------------------

    private byte[] run(String formPath) throws Exception {
        // Collect's JavaRosa initialisation: register the XForms module and
        // install a property manager that answers "property" preloads.
        new XFormsModule().registerModule();
        PropertyManager.setPropertyManager(new CollectLikePropertyManager(propertyValues()));

        // Collect: FormUtils.setupReferenceManagerForForm, before parsing,
        // because external secondary instances are read while parsing.
        setUpReferenceManager();

        // Parse the form (Collect: FormLoaderTask -> XFormUtils).
        FormDef formDef;
        try (InputStream in = new FileInputStream(formPath)) {
            formDef = XFormUtils.getFormFromInputStream(in);
        }
        if (formDef == null) {
            throw new IllegalStateException("JavaRosa could not parse " + formPath);
        }
        warnAboutMissingMedia(formDef);

        // Collect (CollectFormEntryControllerFactory) creates the controller
        // and registers its pulldata() handler (ExternalDataHandlerPull)
        // before the form is initialised, so pulldata() calculations already
        // run on the first load.
        model = new FormEntryModel(formDef);
        controller = new FormEntryController(model);
        controller.addFunctionHandler(new PullDataHandler(mediaDir));

        // Blank form: create a new instance. This fires the preloads that
        // Collect fires when a blank form is opened (start, today, deviceid,
        // uid -> meta/instanceID, ...) and the odk-instance-first-load events.
        formDef.initialize(true, new InstanceInitializationFactory());

        fillIn();
        validateLikeCollectOnFinalize();

        // "Finalize": end-of-form post-processing (sets `end` etc.).
        controller.finalizeFormEntry();

        checkAllKeysUsed();
        return serialise(formDef);
    }

    /** Walk the form once, front to back, as an enumerator swiping forward. */
    private void fillIn() throws RejectedAnswer {
        controller.jumpToIndex(FormIndex.createBeginningOfFormIndex());
        int event = controller.stepToNextEvent();
        while (event != FormEntryController.EVENT_END_OF_FORM) {
            switch (event) {
                case FormEntryController.EVENT_QUESTION:
                    answerCurrentQuestion();
                    break;
                case FormEntryController.EVENT_PROMPT_NEW_REPEAT:
                    if (wantAnotherRepeat()) {
                        controller.newRepeat(); // next step enters the new instance
                    }
                    break;
                case FormEntryController.EVENT_REPEAT:
                    if (repeatInstanceIsSurplus()) {
                        // Collect's "remove this group": delete and go on from
                        // the index JavaRosa hands back.
                        FormIndex back = controller.deleteRepeat();
                        controller.jumpToIndex(back);
                    }
                    break;
                default:
                    // EVENT_GROUP, EVENT_BEGINNING_OF_FORM, EVENT_REPEAT_JUNCTURE:
                    // nothing to answer.
                    break;
            }
            event = controller.stepToNextEvent();
        }
    }

    /**
     * Collect re-checks every question when the form is finalised
     * (JavaRosaFormController.validateAnswers), which catches questions that
     * only became required/invalid because of later answers.
     */
    private void validateLikeCollectOnFinalize() throws RejectedAnswer {
        controller.jumpToIndex(FormIndex.createBeginningOfFormIndex());
        int event;
        while ((event = controller.stepToNextEvent()) != FormEntryController.EVENT_END_OF_FORM) {
            if (event != FormEntryController.EVENT_QUESTION) {
                continue;
            }
            FormIndex index = model.getFormIndex();
            FormEntryPrompt prompt = model.getQuestionPrompt(index);
            if (prompt.isReadOnly()) {
                continue;
            }
            check(prompt, controller.answerQuestion(index, prompt.getAnswerValue(), true), prompt.getAnswerValue());
        }
    }

    // ------------------------------------------------------------------
    // Questions
    // ------------------------------------------------------------------

    private void answerCurrentQuestion() throws RejectedAnswer {
        FormIndex index = model.getFormIndex();
        FormEntryPrompt prompt = model.getQuestionPrompt(index);
        String text = lookup(questionPath(index), repeatPositions(index));

        if (prompt.isReadOnly()) {
            // Notes, calculated read-only fields, meta/instanceID...: Collect
            // shows these without an editable widget.
            if (text != null) {
                throw new RejectedAnswer(describe(prompt) + " is read-only and cannot be answered");
            }
            return;
        }

        IAnswerData answer;
        if (text == null) {
            // Not given: the widget keeps whatever is there (default value,
            // preload, calculation), and swiping forward still validates it.
            answer = prompt.getAnswerValue();
        } else {
            answer = toAnswerData(prompt, text);
        }
        check(prompt, controller.answerQuestion(index, answer, true), answer);
    }

    /** Turn an ANSWER_* status from answerQuestion into a rejection. */
    private void check(FormEntryPrompt prompt, int status, IAnswerData answer) throws RejectedAnswer {
        if (status == FormEntryController.ANSWER_OK) {
            return;
        }
        if (status == FormEntryController.ANSWER_REQUIRED_BUT_EMPTY) {
            throw new RejectedAnswer(describe(prompt) + " is required but has no answer");
        }
        if (status == FormEntryController.ANSWER_CONSTRAINT_VIOLATED) {
            String msg = prompt.getConstraintText(answer);
            String constraint = constraintExpression(prompt);
            throw new RejectedAnswer(describe(prompt) + " value '" + (answer == null ? "" : answer.getDisplayText())
                + "' violates constraint"
                + (constraint == null ? "" : " " + constraint)
                + (msg == null ? "" : " (message: " + msg + ")"));
        }
        throw new RejectedAnswer(describe(prompt) + " answer not accepted (status " + status + ")");
    }

    /**
     * Build the IAnswerData that Collect's widget for this question would
     * produce from the given text.
     */
    private IAnswerData toAnswerData(FormEntryPrompt prompt, String text) throws RejectedAnswer {
        if (text.isEmpty()) {
            return null; // explicitly blank
        }
        int control = prompt.getControlType();
        switch (control) {
            case Constants.CONTROL_SELECT_ONE:
                return new SelectOneData(selection(prompt, text.trim()));
            case Constants.CONTROL_SELECT_MULTI:
            case Constants.CONTROL_RANK: {
                List<Selection> selections = new ArrayList<>();
                for (String value : text.trim().split("\\s+")) {
                    selections.add(selection(prompt, value));
                }
                return new SelectMultiData(selections);
            }
            case Constants.CONTROL_UPLOAD:
            case Constants.CONTROL_IMAGE_CHOOSE:
            case Constants.CONTROL_AUDIO_CAPTURE:
            case Constants.CONTROL_VIDEO_CAPTURE:
            case Constants.CONTROL_FILE_CAPTURE:
            case Constants.CONTROL_OSM_CAPTURE:
                // Media widgets store just the attachment's file name.
                return new StringData(text);
            default:
                break;
        }
        int dataType = prompt.getDataType();
        if (dataType == Constants.DATATYPE_TEXT || dataType == Constants.DATATYPE_NULL
                || dataType == Constants.DATATYPE_BARCODE || dataType == Constants.DATATYPE_BINARY) {
            return new StringData(text); // keep the text exactly as typed
        }
        // Everything else goes through JavaRosa's own typed parser (the one
        // it uses when reading saved instances back in).
        IAnswerData data;
        try {
            data = XFormAnswerDataParser.getAnswerData(text, dataType, prompt.getQuestion());
        } catch (RuntimeException e) {
            data = null;
        }
        if (data == null) {
            throw new RejectedAnswer(describe(prompt) + " value '" + text + "' is not valid for data type "
                + dataTypeName(dataType));
        }
        return data;
    }

    /** Find a choice by value among the (possibly itemset-generated) choices. */
    private Selection selection(FormEntryPrompt prompt, String value) throws RejectedAnswer {
        List<SelectChoice> choices = prompt.getSelectChoices();
        List<String> known = new ArrayList<>();
        if (choices != null) {
            for (SelectChoice choice : choices) {
                if (choice.getValue().equals(value)) {
                    return choice.selection();
                }
                known.add(choice.getValue());
            }
        }
        throw new RejectedAnswer(describe(prompt) + " has no choice '" + value + "' (choices: " + known + ")"
            + choicesHint(prompt, known));
    }

    /** Explain the usual reasons for a missing choice that are not typos. */
    private String choicesHint(FormEntryPrompt prompt, List<String> known) {
        StringBuilder hint = new StringBuilder();
        String appearance = prompt.getAppearanceHint();
        if (appearance != null && appearance.contains("search(")) {
            hint.append("; note: the search() appearance is implemented by Collect, not JavaRosa, so only the"
                + " choices written in the form are offered here");
        }
        ItemsetBinding itemset = prompt.getQuestion().getDynamicChoices();
        String instance = itemset == null || itemset.nodesetRef == null ? null : itemset.nodesetRef.getInstanceName();
        if (known.isEmpty() && instance != null && emptyExternalInstances.contains(instance)) {
            hint.append("; its choices come from external instance '").append(instance).append("', which loaded no data: ")
                .append(mediaDir == null
                    ? "no media directory was given (filler.py: fill_form(..., media={\"name.csv\": bytes}))"
                    : "is its media file missing from " + mediaDir + ", or without data rows?");
        }
        return hint.toString();
    }

    // ------------------------------------------------------------------
    // Repeats
    // ------------------------------------------------------------------

    /** At "Add another X?": yes while fewer instances exist than requested. */
    private boolean wantAnotherRepeat() {
        FormIndex index = model.getFormIndex();
        Integer wanted = repeatCount(index);
        if (wanted == null) {
            return false; // no count given: keep what the form starts with
        }
        // The prompt sits at the position the new instance would take.
        return index.getTerminal().getInstanceIndex() < wanted;
    }

    /** Entering an instance beyond the requested count (a form-provided one). */
    private boolean repeatInstanceIsSurplus() {
        FormIndex index = model.getFormIndex();
        Integer wanted = repeatCount(index);
        return wanted != null && index.getTerminal().getInstanceIndex() >= wanted;
    }

    private Integer repeatCount(FormIndex repeatIndex) {
        List<Integer> positions = repeatPositions(repeatIndex);
        // The terminal level is the repeat itself; the count is keyed by the
        // positions of the *enclosing* repeat instances only.
        if (!positions.isEmpty()) {
            positions = positions.subList(0, positions.size() - 1);
        }
        String text = lookup(questionPath(repeatIndex) + COUNT_SUFFIX, positions);
        if (text == null) {
            return null;
        }
        try {
            return Integer.valueOf(text.trim());
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException("bad repeat count '" + text + "' for " + questionPath(repeatIndex));
        }
    }

    // ------------------------------------------------------------------
    // Answer keys
    // ------------------------------------------------------------------

    /** "grp/anggota/nama" for /data/grp/anggota[2]/nama: no root, no indexes. */
    private static String questionPath(FormIndex index) {
        TreeReference ref = index.getReference();
        StringBuilder sb = new StringBuilder();
        for (int i = 1; i < ref.size(); i++) { // level 0 is the root element
            if (sb.length() > 0) {
                sb.append('/');
            }
            sb.append(ref.getName(i));
        }
        return sb.toString();
    }

    /** 1-based instance numbers of the repeats enclosing (or being) index. */
    private List<Integer> repeatPositions(FormIndex index) {
        List<Integer> positions = new ArrayList<>();
        for (FormEntryCaption caption : model.getCaptionHierarchy(index)) {
            if (caption.repeats()) {
                positions.add(caption.getMultiplicity() + 1);
            }
        }
        return positions;
    }

    /** Most specific key first: path#1.2, then path#2 (innermost), then path. */
    private String lookup(String path, List<Integer> positions) {
        List<String> candidates = new ArrayList<>();
        if (!positions.isEmpty()) {
            StringBuilder chain = new StringBuilder();
            for (Integer p : positions) {
                if (chain.length() > 0) {
                    chain.append('.');
                }
                chain.append(p);
            }
            candidates.add(path + "#" + chain);
            candidates.add(path + "#" + positions.get(positions.size() - 1));
        }
        candidates.add(path);
        for (String key : candidates) {
            String value = answers.getProperty(key);
            if (value != null) {
                usedKeys.add(key);
                return value;
            }
        }
        return null;
    }

    private void checkAllKeysUsed() throws UnusedKeys {
        Set<String> unused = new TreeSet<>();
        for (String key : answers.stringPropertyNames()) {
            if (!usedKeys.contains(key) && !key.startsWith(PROPERTY_PREFIX)) {
                unused.add(key);
            }
        }
        if (!unused.isEmpty()) {
            throw new UnusedKeys("answer keys never used (no such question, not relevant, or repeat "
                + "instance not created): " + unused);
        }
    }

    private Map<String, String> propertyValues() {
        Map<String, String> values = new HashMap<>();
        for (String key : answers.stringPropertyNames()) {
            if (key.startsWith(PROPERTY_PREFIX)) {
                values.put(key.substring(PROPERTY_PREFIX.length()), answers.getProperty(key));
            }
        }
        return values;
    }

    // ------------------------------------------------------------------
    // Form media
    // ------------------------------------------------------------------

    /**
     * Collect's FormUtils.setupReferenceManagerForForm: a FileReferenceFactory
     * for jr://file/ rooted above the media directory, plus session root
     * translators jr://images/ (image, audio, video, file-csv, file) ->
     * jr://file/<media dir name>/. Collect's root is the project directory and
     * its prefix jr://file/forms/<form>-media/; here the media directory's
     * parent plays the project directory, which resolves the same URIs to the
     * same files. RootTranslator.derives() skips URIs that already carry the
     * translated prefix, so jr://file/ -> jr://file/<dir>/ does not loop.
     * Without a media directory nothing is registered: external instances
     * then load no data (JavaRosa falls back to an empty placeholder), as
     * before media support existed.
     */
    private void setUpReferenceManager() {
        ReferenceManager manager = ReferenceManager.instance();
        manager.reset();
        if (mediaDir == null) {
            return;
        }
        if (!Charset.defaultCharset().equals(StandardCharsets.UTF_8)) {
            // JavaRosa reads CSV external instances with the platform charset.
            System.err.println("FormFiller: warning: default charset is " + Charset.defaultCharset()
                + ", not UTF-8 as on Android; JavaRosa will misread non-ASCII CSV media"
                + " (run java with -Dfile.encoding=UTF-8)");
        }
        mediaFactory = new MediaReferenceFactory(mediaDir.getParentFile());
        manager.addReferenceFactory(mediaFactory);
        String translatedPrefix = "jr://file/" + mediaDir.getName() + "/";
        for (String host : MEDIA_HOSTS) {
            manager.addSessionRootTranslator(new RootTranslator("jr://" + host + "/", translatedPrefix));
        }
    }

    /** "desa.csv" for MEDIA_DIR/desa.csv; the full path if outside MEDIA_DIR. */
    private String mediaName(File file) {
        Path media = mediaDir.toPath().normalize();
        Path path = file.toPath().normalize();
        return path.startsWith(media) ? media.relativize(path).toString() : path.toString();
    }

    /**
     * JavaRosa silently replaces an external secondary instance whose file
     * is missing (or has no data rows) by an empty placeholder; say so on
     * stderr, and remember it for the "no choice" message.
     */
    private void warnAboutMissingMedia(FormDef formDef) {
        if (mediaFactory != null) {
            for (File missing : mediaFactory.missing.values()) {
                System.err.println("FormFiller: warning: media file '" + mediaName(missing) + "' not found in "
                    + mediaDir);
            }
        }
        @SuppressWarnings("rawtypes") // FormDef hands out raw DataInstances
        Enumeration<DataInstance> instances = formDef.getNonMainInstances();
        while (instances.hasMoreElements()) {
            Object instance = instances.nextElement();
            if (instance instanceof ExternalDataInstance && ((ExternalDataInstance) instance).isUsingPlaceholder()) {
                String id = ((ExternalDataInstance) instance).getInstanceId();
                emptyExternalInstances.add(id);
                System.err.println("FormFiller: warning: external instance '" + id
                    + "' has no data (" + (mediaDir == null ? "no media directory given"
                        : "media file missing or without data rows") + ")");
            }
        }
    }

    // ------------------------------------------------------------------
    // Serialisation
    // ------------------------------------------------------------------

    /**
     * What Collect uploads: JavaRosaFormController.getSubmissionXml(), i.e.
     * XFormSerializingVisitor over the main instance, restricted to the
     * <submission ref> if the form declares one (otherwise "/").
     */
    private static byte[] serialise(FormDef formDef) throws IOException {
        SubmissionProfile profile = formDef.getSubmissionProfile();
        IDataReference ref = (profile == null || profile.getRef() == null)
            ? new XPathReference("/")
            : profile.getRef();
        IDataPayload payload = new XFormSerializingVisitor().createSerializedPayload(formDef.getMainInstance(), ref);
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        try (InputStream in = payload.getPayloadStream()) {
            in.transferTo(out);
        }
        return out.toByteArray();
    }

    // ------------------------------------------------------------------
    // Helpers
    // ------------------------------------------------------------------

    /** "question 'anggota/nama_anggota' (repeat instance #2)" for messages. */
    private String describe(FormEntryPrompt prompt) {
        FormIndex index = prompt.getIndex();
        List<Integer> positions = repeatPositions(index);
        StringBuilder sb = new StringBuilder("question '").append(questionPath(index)).append('\'');
        if (!positions.isEmpty()) {
            sb.append(" (repeat instance #");
            for (int i = 0; i < positions.size(); i++) {
                sb.append(i == 0 ? "" : ".").append(positions.get(i));
            }
            sb.append(')');
        }
        return sb.toString();
    }

    /** The raw constraint XPath from the question's bind, if any. */
    private String constraintExpression(FormEntryPrompt prompt) {
        TreeElement element = model.getForm().getMainInstance().resolveReference(prompt.getIndex().getReference());
        if (element == null || element.getConstraint() == null) {
            return null;
        }
        IConditionExpr expr = element.getConstraint().constraint;
        return expr instanceof XPathConditional ? ((XPathConditional) expr).xpath : String.valueOf(expr);
    }

    private static String dataTypeName(int dataType) {
        switch (dataType) {
            case Constants.DATATYPE_INTEGER: return "int";
            case Constants.DATATYPE_LONG: return "long";
            case Constants.DATATYPE_DECIMAL: return "decimal";
            case Constants.DATATYPE_DATE: return "date (yyyy-mm-dd)";
            case Constants.DATATYPE_TIME: return "time (HH:mm:ss)";
            case Constants.DATATYPE_DATE_TIME: return "dateTime (ISO 8601)";
            case Constants.DATATYPE_BOOLEAN: return "boolean";
            case Constants.DATATYPE_GEOPOINT: return "geopoint (lat lon alt acc)";
            case Constants.DATATYPE_GEOSHAPE: return "geoshape";
            case Constants.DATATYPE_GEOTRACE: return "geotrace";
            default: return "#" + dataType;
        }
    }

    /**
     * Collect's FileReferenceFactory: jr://file/PATH -> ROOT/PATH. Also
     * remembers references whose file does not exist, for warnings.
     */
    static final class MediaReferenceFactory extends PrefixedRootFactory {
        private final File root;
        final Map<String, File> missing = new LinkedHashMap<>();

        MediaReferenceFactory(File root) {
            super(new String[] {"file"});
            this.root = root;
        }

        @Override
        protected Reference factory(String terminal, String uri) {
            MediaReference reference = new MediaReference(new File(root, terminal), uri);
            if (!reference.file.exists()) {
                missing.put(uri, reference.file);
            }
            return reference;
        }
    }

    /** Collect's FileReference: a jr://file/ URI backed by a local file. */
    static final class MediaReference implements Reference {
        final File file;
        private final String uri;

        MediaReference(File file, String uri) {
            this.file = file;
            this.uri = uri;
        }

        @Override
        public boolean doesBinaryExist() {
            return file.exists();
        }

        @Override
        public InputStream getStream() throws IOException {
            return new FileInputStream(file);
        }

        @Override
        public String getURI() {
            return uri;
        }

        @Override
        public String getLocalURI() {
            return file.getPath();
        }

        @Override
        public boolean isReadOnly() {
            return false;
        }

        @Override
        public OutputStream getOutputStream() throws IOException {
            return new FileOutputStream(file);
        }

        @Override
        public void remove() throws IOException {
            if (file.exists() && !file.delete()) {
                throw new IOException("could not delete " + file);
            }
        }

        @Override
        public Reference[] probeAlternativeReferences() {
            return new Reference[0];
        }
    }

    /**
     * pulldata('dataset', 'column', 'key column', key) as Collect answers it
     * (JavaRosa 5 has no pulldata; Collect registers ExternalDataHandlerPull,
     * which queries an SQLite copy of the media directory's CSV files). Same
     * rules here: the data set name is lower-cased and a ".csv" suffix
     * dropped; every *.csv in the media directory except itemsets.csv is a
     * data set (matched case-insensitively, like Android's shared storage);
     * the header row is trimmed and a BOM removed; column names are compared
     * after Collect's toSafeColumnName (trim, non [A-Za-z0-9_] -> '_', lower
     * case); rows without any non-blank value are skipped and short rows
     * padded with ""; values are kept untrimmed and compared to the key with
     * SQLite's NOCASE collation (ASCII case-insensitive); the first matching
     * row in file order wins. A missing data set, unknown column or no
     * matching row gives "" (Collect logs it; here it is warned once on
     * stderr). Duplicate column names after toSafeColumnName are an error,
     * as Collect refuses to import such a file.
     */
    static final class PullDataHandler implements IFunctionHandler {
        private final File mediaDir;
        private final Map<String, CsvTable> tables = new HashMap<>();
        private final Set<String> warned = new HashSet<>();

        PullDataHandler(File mediaDir) {
            this.mediaDir = mediaDir;
        }

        @Override
        public String getName() {
            return "pulldata";
        }

        @Override
        @SuppressWarnings("rawtypes") // IFunctionHandler's signature
        public List<Class[]> getPrototypes() {
            return new ArrayList<>();
        }

        @Override
        public boolean rawArgs() {
            return true;
        }

        @Override
        public boolean realTime() {
            return false;
        }

        @Override
        public Object eval(Object[] args, EvaluationContext ec) {
            if (args.length != 4) {
                warnOnce("pulldata() needs 4 arguments, got " + args.length + "; it returns ''");
                return "";
            }
            String dataSet = XPathFuncExpr.toString(args[0]).toLowerCase(Locale.US);
            if (dataSet.endsWith(".csv")) {
                dataSet = dataSet.substring(0, dataSet.lastIndexOf(".csv"));
            }
            String queriedColumn = XPathFuncExpr.toString(args[1]);
            String referenceColumn = XPathFuncExpr.toString(args[2]);
            String referenceValue = XPathFuncExpr.toString(args[3]);

            CsvTable table = table(dataSet);
            if (table == null) {
                warnOnce("pulldata('" + dataSet + "', ...): no " + dataSet + ".csv in the media directory"
                    + (mediaDir == null ? " (none given)" : " " + mediaDir) + "; it returns ''");
                return "";
            }
            Integer queried = table.columns.get(toSafeColumnName(queriedColumn));
            Integer reference = table.columns.get(toSafeColumnName(referenceColumn));
            if (queried == null || reference == null) {
                warnOnce("pulldata('" + dataSet + "', '" + queriedColumn + "', '" + referenceColumn
                    + "', ...): no such column in " + table.file.getName() + " (columns: " + table.header
                    + "); it returns ''");
                return "";
            }
            for (String[] row : table.rows) {
                if (sqliteNocaseEquals(row[reference], referenceValue)) {
                    return row[queried];
                }
            }
            return "";
        }

        private void warnOnce(String message) {
            if (warned.add(message)) {
                System.err.println("FormFiller: warning: " + message);
            }
        }

        private CsvTable table(String dataSet) {
            if (tables.containsKey(dataSet)) {
                return tables.get(dataSet);
            }
            CsvTable table = null;
            File[] files = mediaDir == null ? null : mediaDir.listFiles();
            if (files != null) {
                Arrays.sort(files);
                for (File file : files) {
                    String name = file.getName();
                    String lower = name.toLowerCase(Locale.US);
                    if (!file.isFile() || !lower.endsWith(".csv") || lower.equals("itemsets.csv")) {
                        continue;
                    }
                    if (name.substring(0, name.lastIndexOf('.')).equalsIgnoreCase(dataSet)) {
                        table = CsvTable.read(file);
                        break;
                    }
                }
            }
            tables.put(dataSet, table);
            return table;
        }

        /** Collect's ExternalDataUtil.toSafeColumnName. */
        static String toSafeColumnName(String column) {
            return "c_" + column.trim().replaceAll("[^A-Za-z0-9_]", "_").toLowerCase(Locale.ENGLISH);
        }

        /** SQLite's NOCASE collation: only ASCII letters are case-folded. */
        static boolean sqliteNocaseEquals(String a, String b) {
            if (a.length() != b.length()) {
                return false;
            }
            for (int i = 0; i < a.length(); i++) {
                char x = a.charAt(i);
                char y = b.charAt(i);
                if (x >= 'A' && x <= 'Z') {
                    x = (char) (x + ('a' - 'A'));
                }
                if (y >= 'A' && y <= 'Z') {
                    y = (char) (y + ('a' - 'A'));
                }
                if (x != y) {
                    return false;
                }
            }
            return true;
        }
    }

    /** A CSV data set as Collect's ExternalSQLiteOpenHelper imports it. */
    static final class CsvTable {
        final File file;
        final List<String> header = new ArrayList<>();
        /** safe column name -> index into a row. */
        final Map<String, Integer> columns = new HashMap<>();
        final List<String[]> rows = new ArrayList<>();

        private CsvTable(File file) {
            this.file = file;
        }

        static CsvTable read(File file) {
            CsvTable table = new CsvTable(file);
            try (Reader reader = new InputStreamReader(new FileInputStream(file), StandardCharsets.UTF_8);
                 CSVParser parser = CSVFormat.DEFAULT.parse(reader)) {
                List<CSVRecord> records = parser.getRecords();
                if (records.isEmpty()) {
                    throw new IllegalStateException("pulldata(): " + file + " has no header row");
                }
                CSVRecord headerRow = records.get(0);
                Map<String, String> safeToOriginal = new HashMap<>();
                for (int i = 0; i < headerRow.size(); i++) {
                    String name = headerRow.get(i);
                    if (i == 0 && name.startsWith("\uFEFF")) {
                        name = name.substring(1);
                    }
                    name = name.trim();
                    table.header.add(name);
                    if (name.isEmpty()) {
                        continue;
                    }
                    String safe = PullDataHandler.toSafeColumnName(name);
                    if (safeToOriginal.containsKey(safe)) {
                        throw new IllegalStateException("pulldata(): " + file + ": columns '" + safeToOriginal.get(safe)
                            + "' and '" + name + "' clash after Collect's column-name sanitising;"
                            + " Collect refuses to load this file");
                    }
                    safeToOriginal.put(safe, name);
                    table.columns.put(safe, i);
                }
                for (CSVRecord record : records.subList(1, records.size())) {
                    String[] row = new String[headerRow.size()];
                    boolean anyData = false;
                    for (int i = 0; i < row.length; i++) {
                        row[i] = i < record.size() ? record.get(i) : "";
                        anyData |= !row[i].trim().isEmpty();
                    }
                    if (anyData) {
                        table.rows.add(row);
                    }
                }
            } catch (IOException e) {
                throw new IllegalStateException("pulldata(): cannot read " + file + ": " + e, e);
            }
            return table;
        }
    }

    /**
     * Stand-in for Collect's org.odk.collect.android.logic.PropertyManager,
     * which answers jr:preload="property" (deviceid, username, email,
     * phonenumber and their "uri:" variants). Collect's deviceid is
     * "collect:" + 16 random alphanumerics generated once per install; we
     * generate one per run unless @property.deviceid is given.
     */
    static final class CollectLikePropertyManager implements IPropertyManager {
        private final Map<String, String> values = new HashMap<>();

        CollectLikePropertyManager(Map<String, String> given) {
            values.put("deviceid", "collect:" + randomAlphanumeric(16));
            values.putAll(given);
            for (String name : new String[] {"deviceid", "username", "email", "phonenumber"}) {
                String v = values.get(name);
                if (v != null && !values.containsKey("uri:" + name)) {
                    values.put("uri:" + name, v);
                }
            }
        }

        private static String randomAlphanumeric(int n) {
            String alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
            SecureRandom random = new SecureRandom();
            StringBuilder sb = new StringBuilder(n);
            for (int i = 0; i < n; i++) {
                sb.append(alphabet.charAt(random.nextInt(alphabet.length())));
            }
            return sb.toString();
        }

        @Override
        public List<String> getProperty(String name) {
            String v = values.get(name);
            return v == null ? Collections.emptyList() : Collections.singletonList(v);
        }

        @Override
        public void setProperty(String name, String value) {
            // Preload post-processing may write values back; ignored here.
        }

        @Override
        public void setProperty(String name, List<String> value) {
        }

        @Override
        public String getSingularProperty(String name) {
            return values.get(name);
        }

        @Override
        public void addRules(IPropertyRules rules) {
        }

        @Override
        public List<IPropertyRules> getRules() {
            return Collections.emptyList();
        }
    }
}
